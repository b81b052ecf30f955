using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests;

/// <summary>Comparisons whose failure message prints the largest difference.</summary>
internal static class TensorAssert
{
    public static void AreClose(Tensor expected, Tensor actual, double tolerance, string what)
    {
        CollectionAssert.AreEqual(expected.shape, actual.shape, $"{what}: shape [{string.Join(", ", actual.shape)}], expected " +
            $"[{string.Join(", ", expected.shape)}].");
        using var difference = (expected.to(ScalarType.Float64) - actual.to(ScalarType.Float64)).abs().max();
        double largest = difference.item<double>();
        Assert.IsTrue(largest <= tolerance, $"{what}: largest difference {largest:E3} exceeds {tolerance:E1}.");
    }

    public static void AllFinite(Tensor t, string what)
    {
        using var finite = t.isfinite().all();
        Assert.IsTrue(finite.item<bool>(), $"{what} holds NaN or infinity.");
    }
}

/// <summary>Paths inside the repository (tests run from bin/, several folders below the root).</summary>
internal static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The embedded Fashion-MNIST subset: train/ and test/, one sub-folder per class.</summary>
    public static string FashionMnistMini => Path.Combine(Root, "Samples", "data", "fashion-mnist-mini");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SaPE2MLNet.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No SaPE2MLNet.sln above {AppContext.BaseDirectory}.");
    }
}
