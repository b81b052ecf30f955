namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>Maps a <see cref="VitConfig"/> to its token-level and per-layer position encodings.</summary>
public static class PositionEncodingFactory
{
    /// <summary>Whether the model adds a learned absolute embedding to its tokens.</summary>
    public static bool UsesAbsoluteEmbedding(VitConfig config) => config.PositionEncoding switch
    {
        PositionEncodingKind.Absolute => true,
        PositionEncodingKind.RopeAxial or PositionEncodingKind.RopeMixed or PositionEncodingKind.Cope or PositionEncodingKind.Sape2
            => config.AbsolutePosition,
        _ => false,
    };

    /// <summary>The encoding added once to the tokens after the patch embedding.</summary>
    public static TokenPositionEncoding CreateTokenEncoding(VitConfig config)
    {
        var grid = new PatchGrid(config.GridHeight, config.GridWidth);
        if (UsesAbsoluteEmbedding(config)) return new AbsolutePositionEmbedding(config.EmbedDim, grid, config.PrefixTokens);
        if (config.PositionEncoding == PositionEncodingKind.Sincos2D) return new Sincos2DPositionEmbedding(config.EmbedDim, grid);
        return new NoTokenPosition();
    }

    /// <summary>A fresh encoding for one attention layer (each layer owns its tables).</summary>
    public static AttentionPositionEncoding CreateAttentionEncoding(VitConfig config) => config.PositionEncoding switch
    {
        PositionEncodingKind.None or PositionEncodingKind.Absolute or PositionEncodingKind.Sincos2D => new NoAttentionPosition(),
        PositionEncodingKind.RopeAxial => new RopeAxial(config.HeadDim, new PatchGrid(config.GridHeight, config.GridWidth)),
        PositionEncodingKind.RopeMixed => new RopeMixed(config.NumHeads, config.HeadDim),
        PositionEncodingKind.Cope => new CopeAttention(config.HeadDim, config.GridHeight * config.GridWidth),
        PositionEncodingKind.Sape2 => new Sape2Attention(config),
        _ => throw new ArgumentOutOfRangeException(nameof(config), $"Unknown position encoding {config.PositionEncoding}."),
    };
}
