using System.Reflection;
var t = typeof(TorchSharp.torch.Tensor);
foreach (var name in new[]{"addcmul","baddbmm","as_strided","nan_to_num_","scatter_add_","lerp","DetachFromDisposeScope","diagonal"})
  foreach (var m in t.GetMethods().Where(m => m.Name == name)) Console.WriteLine($"{name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name + " " + p.Name + (p.HasDefaultValue ? "=" + p.DefaultValue : "")))})");
foreach (var m in typeof(TorchSharp.torch).GetMethods().Where(m => m.Name is "is_grad_enabled" or "cdist")) Console.WriteLine(m);
