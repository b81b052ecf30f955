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
        long length = gates.shape[^1];
        using var suffix = ones(length, length, dtype: gates.dtype, device: gates.device).tril();   // (L, L)
        return gates.matmul(suffix);
    }

    /// <summary>
    /// Tables up to this many entries interpolate with hat weights, longer ones (CoPE's N + 1, SaPE² on large grids) with gathers:
    /// measured with <c>B layer</c> (Docs/benchmarks.md), hat weights made a SaPE² layer on an 8×8 grid (M = 9) about a fifth faster
    /// but a CoPE layer (M = 65) 14 times slower, and the (…, K, M) weights they keep for the backward grow with M. The benchmark
    /// sets it to 0 to time the gather form beside it.
    /// </summary>
    internal static int HatWeightsUpTo { get; set; } = 9;

    /// <summary>
    /// Linear interpolation of integer-position logits at fractional positions (Eq. 14):
    /// <c>z = w·Z[⌈p⌉] + (1−w)·Z[⌊p⌋]</c>, <c>w = p − ⌊p⌋</c>. The same function and gradient two ways, by table length
    /// (<see cref="HatWeightsUpTo"/>): hat weights <c>h_t = max(0, 1 − |p − t|)</c> and <c>z = Σ_t h_t·Z[t]</c> (fewer tensor
    /// operations, no gather and so no scatter in the backward), or two gathers.
    /// </summary>
    /// <param name="logits">Z, shape (…, M): the logit of every integer position.</param>
    /// <param name="positions">p, shape (…, K) with the same leading dimensions, within [0, M−1].</param>
    /// <returns>z, shape (…, K).</returns>
    public static Tensor Interpolate(Tensor logits, Tensor positions) =>
        logits.shape[^1] <= HatWeightsUpTo ? InterpolateWithHats(logits, positions) : InterpolateWithGathers(logits, positions);

    /// <summary>
    /// <c>z = Σ_t max(0, 1 − |p − t|)·Z[t]</c>: Eq. 14 exactly, and its gradient (0 at whole positions, as the gather form's). A NaN
    /// position (a diverging model) gives a NaN, which the trainer reports; no index is formed from it.
    /// </summary>
    internal static Tensor InterpolateWithHats(Tensor logits, Tensor positions)
    {
        using var scope = NewDisposeScope();
        var entries = arange(logits.shape[^1], dtype: positions.dtype, device: positions.device);      // t = 0 … M−1
        // relu, not clamp_min: at a whole position the neighbours' hats are exactly 0, and relu passes no gradient there.
        var hat = nn.functional.relu(1 - (positions.unsqueeze(-1) - entries).abs());                 // (…, K, M)
        return hat.matmul(logits.unsqueeze(-1)).squeeze(-1).MoveToOuterDisposeScope();              // (…, K)
    }

    /// <summary>Eq. 14 with two gathers at ⌊p⌋ and ⌈p⌉. The indices carry no gradient; <c>w</c> does.</summary>
    internal static Tensor InterpolateWithGathers(Tensor logits, Tensor positions)
    {
        using var scope = NewDisposeScope();
        var floor = positions.floor();
        var weight = positions - floor;                                  // (…, K), differentiable
        // The indices come from a NaN-free, in-range copy: a diverging model must give a NaN loss (which the
        // trainer reports), never an out-of-bounds gather in native code. In range, this changes nothing.
        var safe = positions.detach().nan_to_num(0, 0, 0).clamp(0, logits.shape[^1] - 1);
        var lower = logits.gather(-1, safe.floor().to(ScalarType.Int64));   // Z[⌊p⌋]
        var upper = logits.gather(-1, safe.ceil().to(ScalarType.Int64));    // Z[⌈p⌉]
        return (weight * upper + (1 - weight) * lower).MoveToOuterDisposeScope();
    }
}
