using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>Weight initialisers the model needs.</summary>
public static class Initialization
{
    /// <summary>
    /// Fills <paramref name="tensor"/> in place with a normal distribution of mean 0 and scale <paramref name="std"/>,
    /// truncated at ±2·std (inverse-CDF sampling, as PyTorch's <c>trunc_normal_</c> does for given bounds).
    /// </summary>
    /// <remarks>
    /// Written here because TorchSharp 0.107.0's <c>nn.init.trunc_normal_</c> fills the tensor with the constant
    /// <c>std</c> (measured: mean 0.02, standard deviation 0 for std 0.02), which silently cripples a ViT's training.
    /// </remarks>
    public static void TruncatedNormal(Tensor tensor, double std)
    {
        using var noGrad = no_grad();
        double lower = NormalCdf(-2), upper = NormalCdf(2);
        tensor.uniform_(2 * lower - 1, 2 * upper - 1);   // erf-space bounds of ±2σ
        tensor.erfinv_().mul_(std * Math.Sqrt(2)).clamp_(-2 * std, 2 * std);
    }

    private static double NormalCdf(double x) => 0.5 * (1 + Erf(x / Math.Sqrt(2)));

    // The Maclaurin series of erf; exact to double precision for the |x| ≤ √2 used here.
    private static double Erf(double x)
    {
        double sum = 0, term = x;
        for (int n = 0; n < 100; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }
}
