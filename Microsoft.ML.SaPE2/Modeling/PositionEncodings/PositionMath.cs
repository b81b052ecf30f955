using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>The two steps that contextual positions (CoPE, SaPE²) share: suffix-sum positions and their interpolation.</summary>
internal static class PositionMath
{
    /// <summary>
    /// Suffix sum over the last dimension (Eq. 10): <c>p[m] = Σ_{j ≥ m} g[j]</c>.
    /// <code>g: [g0 g1 g2] -> p: [g0+g1+g2, g1+g2, g2]</code>
    /// Written as one matmul with a lower-triangular ones matrix (<c>U[j, m] = 1 if j ≥ m</c>): the same function as
    /// flip → cumsum → flip, without the slow cumsum over short strided rows.
    /// </summary>
    public static Tensor SuffixSum(Tensor gates)
    {
        using var suffix = SuffixOnes(gates.device, gates.dtype, gates.shape[^1]);
        return gates.matmul(suffix);
    }

    /// <summary><see cref="SuffixSum"/>'s matrix, (L, L): <c>U[j, m] = 1 if j ≥ m</c> (a <see cref="FixedTableCache"/> builder).</summary>
    public static Tensor SuffixOnes(Device device, ScalarType dtype, long length) =>
        ones(length, length, dtype: dtype, device: device).tril();

    /// <summary>
    /// Linear interpolation of integer-position logits at fractional positions (Eq. 14):
    /// <c>z = w·Z[⌈p⌉] + (1−w)·Z[⌊p⌋]</c>, <c>w = p − ⌊p⌋</c>. The indices carry no gradient; <c>w</c> does.
    /// </summary>
    /// <param name="logits">Z, shape (…, M): the logit of every integer position.</param>
    /// <param name="positions">p, shape (…, K) with the same leading dimensions, within [0, M−1].</param>
    /// <returns>z, shape (…, K).</returns>
    public static Tensor Interpolate(Tensor logits, Tensor positions)
    {
        using var scope = NewDisposeScope();
        var floor = positions.floor();
        var weight = positions - floor;                                  // (…, K), differentiable
        // The indices come from a NaN-free, in-range copy: a diverging model must give a NaN loss (which the
        // trainer reports), never an out-of-bounds gather in native code. In range, this changes nothing.
        using Scalar first = 0L.ToScalar(), last = (logits.shape[^1] - 1).ToScalar();   // owned (TorchSharpScalarTests)
        var safe = positions.detach().nan_to_num(0, 0, 0).clamp(first, last);
        var lower = logits.gather(-1, safe.floor().to(ScalarType.Int64));   // Z[⌊p⌋]
        var upper = logits.gather(-1, safe.ceil().to(ScalarType.Int64));    // Z[⌈p⌉]
        return (weight * upper + (1 - weight) * lower).MoveToOuterDisposeScope();
    }
}
