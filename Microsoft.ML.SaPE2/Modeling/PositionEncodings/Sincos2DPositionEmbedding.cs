using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// Fixed 2D sinusoidal embedding (MAE's <c>get_2d_sincos_pos_embed</c>): the first half of the channels encodes the
/// column x, the second half the row y, each as <c>[sin(pos·ω) | cos(pos·ω)]</c> with <c>ω_k = 10000^(−k/(C/4))</c>.
/// Prefix tokens get zeros. Built once for the model's grid (per device and dtype) and computed for any other grid an
/// input has, so it needs no resizing.
/// </summary>
public sealed class Sincos2DPositionEmbedding : TokenPositionEncoding
{
    private readonly int embedDim;
    private readonly PatchGrid? modelGrid;
    private readonly FixedTableCache tables;

    /// <summary>
    /// Creates the embedding for tokens of width <paramref name="embedDim"/> (divisible by 4); the table of
    /// <paramref name="modelGrid"/> is kept once built.
    /// </summary>
    public Sincos2DPositionEmbedding(int embedDim, PatchGrid? modelGrid = null) : base(nameof(Sincos2DPositionEmbedding))
    {
        CheckWidth(embedDim, nameof(embedDim));
        this.embedDim = embedDim;
        this.modelGrid = modelGrid;
        tables = new FixedTableCache((device, dtype) => Table(modelGrid!.Value, embedDim, device).to(dtype));
        RegisterComponents();
    }

    /// <summary>The one check of the token width: x and y each take half the channels as sin-cos pairs, so it must be divisible by 4.</summary>
    public static void CheckWidth(int embedDim, string parameter)
    {
        if (embedDim % 4 != 0) throw new ArgumentOutOfRangeException(parameter, $"2D sin-cos needs EmbedDim divisible by 4; got {embedDim}.");
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) tables.Dispose();
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override Tensor Encode(Tensor tokens, PatchGrid grid, int prefixTokens)
    {
        using var scope = NewDisposeScope();
        var table = grid == modelGrid ? tables.Get(tokens.device, tokens.dtype)           // (N, C)
            : Table(grid, embedDim, tokens.device).to(tokens.dtype);
        var padded = nn.functional.pad(table, new long[] { 0, 0, prefixTokens, 0 });     // (P + N, C)
        return (tokens + padded).MoveToOuterDisposeScope();
    }

    /// <summary>The (N, C) table for <paramref name="grid"/>, row-major patches, in float64 precision cast to float32.</summary>
    public static Tensor Table(PatchGrid grid, int embedDim, Device? device = null)
    {
        using var scope = NewDisposeScope();
        using Scalar count = grid.Count.ToScalar(), width = grid.Width.ToScalar();   // owned (TorchSharpScalarTests)
        var index = arange(count, dtype: ScalarType.Float64, device: device);
        var x = index.remainder(width);                                           // column of each patch
        var y = index.div(width, rounding_mode: RoundingMode.floor);              // row of each patch
        var table = cat(new[] { Axis(x, embedDim / 2, device), Axis(y, embedDim / 2, device) }, 1);   // (N, C)
        return table.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>MAE's 1D embedding: (N, D) = [sin(pos ⊗ ω) | cos(pos ⊗ ω)], ω_k = 1 / 10000^(k / (D/2)).</summary>
    private static Tensor Axis(Tensor positions, int dim, Device? device)
    {
        using Scalar half = (dim / 2).ToScalar(), halfReal = (dim / 2.0).ToScalar();   // owned (TorchSharpScalarTests)
        var omega = arange(half, dtype: ScalarType.Float64, device: device).div(halfReal);
        omega = pow(10000.0, omega).reciprocal();                                  // (D/2)
        var angles = positions.outer(omega);                                      // (N, D/2)
        return cat(new[] { angles.sin(), angles.cos() }, 1);                       // (N, D)
    }
}
