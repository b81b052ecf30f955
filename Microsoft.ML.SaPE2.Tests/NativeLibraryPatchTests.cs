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
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string cached = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", LibraryName);
        if (!File.Exists(cached)) Assert.Inconclusive($"No TorchSharp 0.107.0 in the NuGet cache at {cached}.");

        byte[] patched = File.ReadAllBytes(output), original = File.ReadAllBytes(cached);
        Assert.AreEqual(original.Length, patched.Length, "The patch must not change the file's size.");
        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
        // Exactly one vna_flags field gains VER_FLG_WEAK (0x2); the cached original keeps flags 0.
        Assert.AreEqual(1, changed.Count, $"Expected exactly one changed byte; found {changed.Count}.");
        Assert.AreEqual(0x00, original[changed[0]], "The NuGet cache's copy was modified.");
        Assert.AreEqual(0x02, patched[changed[0]], "The output copy's version need is not marked weak.");
    }
}
