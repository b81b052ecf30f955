using Mono.Cecil;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>
/// TorchSharp 0.107 frees a <c>Scalar</c> from its finalizer and reads only its handle when calling libtorch, so a Scalar made by an
/// implicit conversion (<c>x.div_(255f)</c>, <c>clamp(0, 1)</c>) is garbage the moment the call starts: a collection on another thread
/// (the image decoders allocate) can free it while libtorch still reads it. Measured once on this project's Fashion-MNIST comparison:
/// "Unknown scalar type" from <c>div_</c> in the pixel conversion, 33 s into a run that had passed before. The library therefore makes
/// every Scalar itself, in a <c>using</c> that keeps it alive until the call has returned.
/// </summary>
[TestClass]
public sealed class TorchSharpScalarTests
{
    [TestMethod]
    public void TheLibraryMakesNoScalarByImplicitConversion()
    {
        string bin = AppContext.BaseDirectory;
        using var library = ModuleDefinition.ReadModule(Path.Combine(bin, "Microsoft.ML.SaPE2.dll"), new ReaderParameters { ReadSymbols = true });
        var found = new SortedSet<string>(StringComparer.Ordinal);
        int torchCalls = 0;
        foreach (var type in library.GetTypes())
            foreach (var method in type.Methods.Where(m => m.HasBody))
                foreach (var instruction in method.Body.Instructions)
                {
                    if (instruction.Operand is not MethodReference called
                        || !called.DeclaringType.FullName.StartsWith("TorchSharp", StringComparison.Ordinal)) continue;
                    torchCalls++;
                    if (called.DeclaringType.FullName != "TorchSharp.Scalar" || called.Name != "op_Implicit") continue;
                    var line = method.DebugInformation.SequencePoints.LastOrDefault(p => p.Offset <= instruction.Offset);
                    found.Add(line is null ? method.FullName : $"{Path.GetFileName(line.Document.Url)}:{line.StartLine}");
                }
        Assert.IsTrue(torchCalls > 500, $"the check itself: {torchCalls} calls into TorchSharp seen");
        Assert.AreEqual(0, found.Count, "Implicit Scalar conversions (make the Scalar with ToScalar() in a using instead):\n" +
            string.Join("\n", found));
    }
}
