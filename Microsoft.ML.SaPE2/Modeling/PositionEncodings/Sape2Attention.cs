using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// SaPE² in one attention layer: its own tables E_x, E_y (d × M, shared by the heads, truncated-normal std 0.02)
/// and the logits of Eq. 16, <c>a_in = (q_i·k_n + σ·b_in)/√d</c>, with the bias of <see cref="Sape2Bias"/> on patch
/// pairs and 0 in the CLS row and column.
/// </summary>
public sealed class Sape2Attention : AttentionPositionEncoding
{
    private readonly Parameter tableX;   // E_x, (d, M)
    private readonly Parameter tableY;   // E_y, (d, M)
    private readonly Parameter? biasGate;   // α, (1), starting at 0: the bias counts α·b (VitConfig.Sape2BiasGate); null: Eq. 16 as written
    private readonly double gateScale;
    private readonly Sape2Mode mode;
    private readonly double biasSign;
    private readonly bool biasInsideScale;
    private readonly bool interpolatePositions;
    private readonly FixedTableCache suffixOnes;   // Eq. 10's U[j, m] = 1 where j ≥ m, per row length
    private readonly BackwardFailureSlot backwardFailures = new();

    /// <summary>Creates one layer's SaPE² from the model configuration.</summary>
    public Sape2Attention(VitConfig config) : base(nameof(Sape2Attention))
    {
        int m = config.EffectiveSape2TableSize;
        tableX = nn.Parameter(empty(config.HeadDim, m));
        tableY = nn.Parameter(empty(config.HeadDim, m));
        Initialization.TruncatedNormal(tableX, 0.02);
        Initialization.TruncatedNormal(tableY, 0.02);
        if (config.Sape2BiasGate) biasGate = nn.Parameter(zeros(1));
        gateScale = config.EffectiveSape2GateScale;
        mode = config.Sape2Mode;
        biasSign = config.Sape2BiasSign;
        biasInsideScale = config.Sape2BiasInsideScale;
        interpolatePositions = config.Sape2InterpolatePositions;
        suffixOnes = new FixedTableCache(PositionMath.SuffixOnes);
        RegisterComponents();
    }

    /// <summary>The bias b of Eq. 15 for the patch tokens of q and k, (B, heads, N, N).</summary>
    public Tensor Bias(Tensor query, Tensor key, PatchGrid grid, int prefixTokens)
    {
        var patchQuery = query.narrow(2, prefixTokens, grid.Count);   // (B, h, N, d)
        var patchKey = key.narrow(2, prefixTokens, grid.Count);
        return Sape2Bias.Compute(patchQuery, patchKey, grid.Height, grid.Width,
            tableX.to(query.dtype), tableY.to(query.dtype), gateScale, mode, interpolatePositions, ClampCounter);
    }

    /// <summary>Counts the cumulative positions this layer computes and how many reach its table's last entry; null: not counted.</summary>
    internal PositionClampCounter? ClampCounter { get; set; }

    /// <inheritdoc />
    /// <remarks>Computed by <see cref="Sape2Logits"/>: the same function as <see cref="LogitsAndBias"/> in far fewer operations.</remarks>
    public override Tensor Logits(Tensor query, Tensor key, PatchGrid grid, int prefixTokens)
    {
        if (PlainForm) return WithoutBias(LogitsAndBias(query, key, grid, prefixTokens));
        var logits = Sape2Logits.Compute(query, key, ReducedPrecision.In(tableX, query.dtype), ReducedPrecision.In(tableY, query.dtype),
            new Sape2Logits.Settings(grid, tableX.shape[1], prefixTokens, gateScale, mode, biasSign, biasInsideScale, interpolatePositions,
                suffixOnes, ClampCounter, backwardFailures));
        if (biasGate is null) return logits;
        // With the gate: content + α·(logits − content), content being q·k/√d. The logits are linear in the bias, so this is Eq. 16 with
        // α·b, exact at α = 0 (a grafted model starts as the pretrained one), and α's gradient Σ b·∂L/∂a is not zero there, while b's
        // own gradient is: at equal embeddings every distance of Eq. 15 is 0, where a norm has no slope.
        using var scope = NewDisposeScope();
        using (logits)
        {
            var content = query.matmul(key.transpose(-2, -1)) * (1.0 / Math.Sqrt(query.shape[^1]));   // (B, h, T, T)
            return (content + ReducedPrecision.In(biasGate, query.dtype) * (logits - content)).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// Rethrows, once, what went wrong in this layer's backward since the last call (out of memory, say): call it after
    /// <c>backward()</c>, which cannot throw it (<see cref="BackwardFailureSlot"/>).
    /// </summary>
    internal void ThrowIfBackwardFailed() => backwardFailures.ThrowIfFailed();

    /// <summary>Computes the logits by the plain autograd form instead (the benchmarks' "before").</summary>
    internal bool PlainForm { get; set; }

    private static Tensor WithoutBias((Tensor Logits, Tensor? PairBias) both)
    {
        both.PairBias?.Dispose();
        return both.Logits;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) suffixOnes.Dispose();
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    /// <remarks>The plain autograd form of Eq. 9–16 (<see cref="Sape2Bias"/>), which explanations read the bias from.</remarks>
    public override (Tensor Logits, Tensor? PairBias) LogitsAndBias(Tensor query, Tensor key, PatchGrid grid, int prefixTokens)
    {
        using var scope = NewDisposeScope();
        double scale = 1.0 / Math.Sqrt(query.shape[^1]);
        var content = query.matmul(key.transpose(-2, -1));                                   // (B, h, T, T)
        var patchBias = Bias(query, key, grid, prefixTokens);                                 // (B, h, N, N)
        if (biasGate is not null) patchBias = patchBias * ReducedPrecision.In(biasGate, query.dtype);   // α·b
        var bias = PadForPrefix(patchBias, prefixTokens);                                     // (B, h, T, T)
        // Eq. 16: (q·k + σ·b)/√d; the option "outside" adds σ·b after the scaling.
        var logits = biasInsideScale
            ? (content + biasSign * bias) * scale
            : content * scale + biasSign * bias;
        return (logits.MoveToOuterDisposeScope(), patchBias.MoveToOuterDisposeScope());
    }
}
