namespace Microsoft.ML.SaPE2.Tests;

[TestClass]
public sealed class NativeLibraryPatchTests
{
    const string LibraryName = "libLibTorchSharp.so";

    [TestMethod]
    public void OutputCopyIsPatchedAndTheNuGetCacheIsNot()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("The GLIBCXX patch concerns the Linux library only.");
        string output = Directory.EnumerateFiles(AppContext.BaseDirectory, LibraryName, SearchOption.AllDirectories).Single();
        // The package folders this project restored from, as restore recorded them (a custom cache, NUGET_PACKAGES or
        // RestorePackagesPath included): the original must be in one of them, or the test fails saying where it looked.
        string assets = Path.Combine(RepositoryPaths.Root, "Microsoft.ML.SaPE2.Tests", "obj", "project.assets.json");
        var folders = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(assets))!["packageFolders"]!.AsObject().Select(p => p.Key).ToList();
        var candidates = folders.Select(f => Path.Combine(f, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", LibraryName)).ToList();
        string? cached = candidates.FirstOrDefault(File.Exists);
        Assert.IsNotNull(cached, $"TorchSharp 0.107.0's {LibraryName} is in none of the restored package folders: {string.Join(", ", candidates)}.");

        byte[] patched = File.ReadAllBytes(output), original = File.ReadAllBytes(cached);
        Assert.AreEqual(original.Length, patched.Length, "The patch must not change the file's size.");
        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
        // Exactly one vna_flags field gains VER_FLG_WEAK (0x2); the cached original keeps flags 0.
        Assert.AreEqual(1, changed.Count, $"Expected exactly one changed byte; found {changed.Count}.");
        Assert.AreEqual(0x00, original[changed[0]], "The NuGet cache's copy was modified.");
        Assert.AreEqual(0x02, patched[changed[0]], "The output copy's version need is not marked weak.");
    }
}
