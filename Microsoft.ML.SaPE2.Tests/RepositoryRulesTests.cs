namespace Microsoft.ML.SaPE2.Tests;

/// <summary>The rules of CONTRIBUTING.md that a test can hold.</summary>
[TestClass]
public sealed class RepositoryRulesTests
{
    const int LineLimit = 150;

    [TestMethod]
    public void NoSourceLineIsOver150Characters()
    {
        var skipped = new[] { "bin", "obj", "scratch", ".git", ".gpu" };
        var files = Directory.EnumerateFiles(RepositoryPaths.Root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(RepositoryPaths.Root, f).Split(Path.DirectorySeparatorChar).Any(skipped.Contains)).ToList();
        Assert.IsTrue(files.Count > 100, $"Only {files.Count} source files found under {RepositoryPaths.Root}.");
        var longLines = files
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: f, Line: i + 1, line.Length)))
            .Where(l => l.Length > LineLimit)
            .Select(l => $"{Path.GetRelativePath(RepositoryPaths.Root, l.File)}:{l.Line} ({l.Length})")
            .ToList();
        Assert.AreEqual(0, longLines.Count, $"Lines over {LineLimit} characters: {string.Join(", ", longLines.Take(20))}");
    }

    [TestMethod]
    public void ThePublicSurfaceIsTheListedOne()
    {
        // What users need and nothing else; the engine, checkpoints, decoding, the IDX/CIFAR readers and the
        // pictures are internal. A type made public or internal on purpose is added to or removed from the list.
        var expected = File.ReadAllLines(Path.Combine(RepositoryPaths.Root, "Microsoft.ML.SaPE2.Tests", "TestData", "public-types.txt"))
            .Where(line => line.Length > 0 && !line.StartsWith('#')).ToHashSet();
        var actual = typeof(Sape2ImageClassificationTrainer).Assembly.GetExportedTypes().Select(t => t.FullName!).ToHashSet();
        Assert.AreEqual("", string.Join(", ", actual.Except(expected).Order(StringComparer.Ordinal)), "Public types not in the list");
        Assert.AreEqual("", string.Join(", ", expected.Except(actual).Order(StringComparer.Ordinal)), "Listed types no longer public");
    }

    [TestMethod]
    public void TheMLNetFacingApiHasNoTorchSharpTypeButTheRawModelAccessor()
    {
        // The ML.NET surface and the experiments speak ML.NET and .NET types; the TorchSharp model is reached
        // through one documented door, the transformer's Classifier.
        static bool Torch(Type type) => type.Assembly.GetName().Name == "TorchSharp"
            || (type.IsGenericType && type.GetGenericArguments().Any(Torch)) || (type.HasElementType && Torch(type.GetElementType()!));
        Assert.IsTrue(Torch(typeof(TorchSharp.torch.Tensor)) && Torch(typeof(IReadOnlyList<TorchSharp.torch.Device>)), "the check itself");
        var flags = System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static
            | System.Reflection.BindingFlags.DeclaredOnly;
        var offenders = typeof(Sape2ImageClassificationTrainer).Assembly.GetExportedTypes()
            .Where(t => t.Namespace is "Microsoft.ML" or "Microsoft.ML.SaPE2" or "Microsoft.ML.SaPE2.AutoML")
            .SelectMany(t => t.GetMembers(flags).Select(m => (Type: t, Member: m)))
            .Where(x => x.Member switch
            {
                System.Reflection.PropertyInfo p => Torch(p.PropertyType),
                System.Reflection.FieldInfo f => Torch(f.FieldType),
                System.Reflection.MethodInfo m => Torch(m.ReturnType) || m.GetParameters().Any(p => Torch(p.ParameterType)),
                System.Reflection.ConstructorInfo c => c.GetParameters().Any(p => Torch(p.ParameterType)),
                _ => false,
            })
            .Select(x => $"{x.Type.Name}.{x.Member.Name}")
            .ToList();
        Assert.AreEqual("", string.Join(", ", offenders), "public members that take or give TorchSharp types");
        Assert.IsFalse(Torch(typeof(Sape2ImageClassificationTransformer).GetProperty("Classifier")!.PropertyType),
            "The accessor gives the library's ImageClassifier, whose Model is the TorchSharp module.");
    }
}
