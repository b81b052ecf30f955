using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// CoPE (Golovneva et al., 2024) over the flattened patch tokens, without a causal mask: gates
/// <c>g_ij = sigmoid(q_i·k_j/√d)</c>, positions <c>p_ij = Σ_{j' ≥ j} g_ij'</c> clamped at the table's last entry, and
/// the interpolated <c>q_i·e[p_ij]</c> added to the scaled logit. The table (d, N + 1) starts at zero, so the model
/// starts as content-only attention. Prefix tokens (CLS) get no position term.
/// </summary>
public sealed class CopeAttention : AttentionPositionEncoding
{
    private readonly Parameter table;   // (d, N + 1): e[0 … N]

    /// <summary>Creates the table for heads of width <paramref name="headDim"/> and a training grid of <paramref name="patchCount"/>
    /// patches.</summary>
    public CopeAttention(int headDim, int patchCount) : base(nameof(CopeAttention))
    {
        table = nn.Parameter(zeros(headDim, patchCount + 1));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor Logits(Tensor query, Tensor key, PatchGrid grid, int prefixTokens)
    {
        using var scope = NewDisposeScope();
        var logits = ScaledDotProduct(query, key);                                          // (B, h, T, T)
        var patchLogits = logits.narrow(2, prefixTokens, grid.Count).narrow(3, prefixTokens, grid.Count);   // (B, h, N, N)
        // Gates, positions, the interpolation and so the logits in fp32 whatever the model's dtype: in bf16 a sum above 256 is
        // a whole number, so the fraction that carries the gates' gradient would be lost.
        var positions = Positions(ReducedPrecision.Widened(patchLogits).sigmoid(), table.shape[1] - 1);   // (B, h, N, N)
        var patchQuery = query.narrow(2, prefixTokens, grid.Count);                          // (B, h, N, d)
        var positionLogits = ReducedPrecision.Widened(patchQuery.matmul(table.to(query.dtype)));   // (B, h, N, N + 1)
        var term = PositionMath.Interpolate(positionLogits, positions);                     // (B, h, N, N)
        return (ReducedPrecision.Widened(logits) + PadForPrefix(term, prefixTokens)).MoveToOuterDisposeScope();   // fp32 from bf16, as SaPE²'s
    }

    /// <summary>CoPE positions from gates (…, N, N): suffix sums along the key axis, clamped at <paramref name="maxPosition"/>.</summary>
    public static Tensor Positions(Tensor gates, long maxPosition)
    {
        using var largest = maxPosition.ToScalar();   // owned, alive through the native call (TorchSharpScalarTests)
        return PositionMath.SuffixSum(gates).clamp_max(largest);
    }
}
