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

    /// <summary>
    /// The central-difference gradient of the scalar <paramref name="loss"/> with respect to every element of <paramref name="input"/>
    /// (float64, changed in place and put back), shaped like <paramref name="input"/>.
    /// </summary>
    public static Tensor FiniteDifferenceGradient(Func<Tensor> loss, Tensor input, double step = 1e-6)
    {
        using var noGrad = no_grad();
        var flat = input.detach().view(-1);
        var numeric = zeros_like(flat);
        for (long e = 0; e < flat.shape[0]; e++)
        {
            double original = flat[e].item<double>();
            flat[e] = original + step; double up = loss().item<double>();
            flat[e] = original - step; double down = loss().item<double>();
            flat[e] = original;
            numeric[e] = (up - down) / (2 * step);
        }
        return numeric.view_as(input);
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
