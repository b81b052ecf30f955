using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// Learned absolute position embedding (ViT/DeiT): a (1, P + N, C) table added to the tokens, truncated-normal
/// std 0.02. For another grid the patch part is resized bicubically (timm's <c>resample_abs_pos_embed</c> steps).
/// </summary>
public sealed class AbsolutePositionEmbedding : TokenPositionEncoding
{
    private readonly Parameter table;   // (1, P + N, C)
    private readonly PatchGrid trainingGrid;
    private readonly int tablePrefix;

    /// <summary>Creates the table for <paramref name="grid"/> plus <paramref name="prefixTokens"/> leading tokens.</summary>
    public AbsolutePositionEmbedding(int embedDim, PatchGrid grid, int prefixTokens) : base(nameof(AbsolutePositionEmbedding))
    {
        trainingGrid = grid;
        tablePrefix = prefixTokens;
        table = nn.Parameter(empty(1, prefixTokens + grid.Count, embedDim));
        Initialization.TruncatedNormal(table, 0.02);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor Encode(Tensor tokens, PatchGrid grid, int prefixTokens)
    {
        if (prefixTokens != tablePrefix)
            throw new ArgumentException($"The embedding was built for {tablePrefix} prefix token(s); got {prefixTokens}.", nameof(prefixTokens));
        if (grid == trainingGrid) return tokens + table;
        using var scope = NewDisposeScope();
        return (tokens + Resized(grid)).MoveToOuterDisposeScope();
    }

    /// <summary>The table for another grid: prefix rows kept, patch rows resized bicubically in float32.</summary>
    private Tensor Resized(PatchGrid grid) => ResizeTable(table, tablePrefix, trainingGrid, grid);

    /// <summary>
    /// A (1, P + N, C) position table of <paramref name="from"/> resampled to <paramref name="to"/>: the <paramref name="prefixTokens"/>
    /// rows kept, the patch rows resized bicubically in float32 (timm's <c>resample_abs_pos_embed</c>). The caller owns the result.
    /// </summary>
    public static Tensor ResizeTable(Tensor table, int prefixTokens, PatchGrid from, PatchGrid to)
    {
        using var scope = NewDisposeScope();
        if (from == to) return table.clone().MoveToOuterDisposeScope();
        long dim = table.shape[2];
        var prefix = table.narrow(1, 0, prefixTokens);                                  // (1, P, C)
        var patches = table.narrow(1, prefixTokens, from.Count)                           // (1, N0, C)
            .to(ScalarType.Float32)
            .reshape(1, from.Height, from.Width, dim).permute(0, 3, 1, 2);              // (1, C, H0, W0)
        var resized = nn.functional.interpolate(patches, new long[] { to.Height, to.Width },
                mode: InterpolationMode.Bicubic, align_corners: false)                  // (1, C, H, W)
            .permute(0, 2, 3, 1).reshape(1, to.Count, dim).to(table.dtype);             // (1, N, C)
        return cat(new[] { prefix, resized }, 1).MoveToOuterDisposeScope();             // (1, P + N, C)
    }
}
