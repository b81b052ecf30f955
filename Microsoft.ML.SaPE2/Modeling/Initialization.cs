using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>Weight initialisers the model needs.</summary>
public static class Initialization
{
    /// <summary>
    /// Fills <paramref name="tensor"/> in place with a normal distribution of mean 0 and standard deviation
    /// <paramref name="std"/>, truncated at the absolute bounds <paramref name="lower"/> and <paramref name="upper"/> —
    /// timm's <c>trunc_normal_(w, std=.02)</c>, whose default bounds ±2 are ±100σ at std 0.02, so the spread stays 0.02
    /// (bounds of ±2σ would shrink it to 0.0176). Inverse-CDF sampling, as PyTorch's <c>trunc_normal_</c> does.
    /// </summary>
    /// <remarks>
    /// Written here because TorchSharp 0.107.0's <c>nn.init.trunc_normal_</c> fills the tensor with the constant
    /// <c>std</c> (measured: mean 0.02, standard deviation 0 for std 0.02), which silently cripples a ViT's training.
    /// </remarks>
    public static void TruncatedNormal(Tensor tensor, double std, double lower = -2, double upper = 2)
    {
        using var noGrad = no_grad();
        double cdfLower = NormalCdf(lower / std), cdfUpper = NormalCdf(upper / std);
        tensor.uniform_(2 * cdfLower - 1, 2 * cdfUpper - 1);   // in erf space
        using Scalar scale = (std * Math.Sqrt(2)).ToScalar(), low = lower.ToScalar(), high = upper.ToScalar();   // owned (TorchSharpScalarTests)
        tensor.erfinv_().mul_(scale).clamp_(low, high);   // clamp: erfinv(±1) is infinite
    }

    private static double NormalCdf(double x) => 0.5 * (1 + Erf(x / Math.Sqrt(2)));

    // The Maclaurin series of erf, to about 1e-9 for |x| ≤ 5; beyond, erf is ±1 within 2e-12.
    private static double Erf(double x)
    {
        if (Math.Abs(x) > 5) return Math.Sign(x);
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }
}
