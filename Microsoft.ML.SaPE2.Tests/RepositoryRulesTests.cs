namespace Microsoft.ML.SaPE2.Tests;

/// <summary>Rules of shared/STYLE.md that a test can hold (issue 10.10).</summary>
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
        // Issue 10.9: what users need and nothing else; the engine, checkpoints, decoding, the IDX/CIFAR readers and the
        // pictures are internal. A type made public or internal on purpose is added to or removed from the list.
        var expected = File.ReadAllLines(Path.Combine(RepositoryPaths.Root, "Microsoft.ML.SaPE2.Tests", "TestData", "public-types.txt"))
            .Where(line => line.Length > 0 && !line.StartsWith('#')).ToHashSet();
        var actual = typeof(Sape2ImageClassificationTrainer).Assembly.GetExportedTypes().Select(t => t.FullName!).ToHashSet();
        Assert.AreEqual("", string.Join(", ", actual.Except(expected).Order(StringComparer.Ordinal)), "Public types not in the list");
        Assert.AreEqual("", string.Join(", ", expected.Except(actual).Order(StringComparer.Ordinal)), "Listed types no longer public");
    }
}
