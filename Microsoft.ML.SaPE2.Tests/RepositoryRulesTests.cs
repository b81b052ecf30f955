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
}
