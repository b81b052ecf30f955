var t = typeof(TorchSharp.torch.cuda);
foreach (var m in t.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)) Console.WriteLine(m.Name);
