namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>The position encodings the paper compares, all on the same backbone.</summary>
public enum PositionEncodingKind
{
    /// <summary>No position information at all.</summary>
    None,
    /// <summary>Learned absolute embedding added after the patch embedding (ViT/DeiT); resized bicubically for other grids.</summary>
    Absolute,
    /// <summary>Fixed 2D sinusoidal embedding, half the channels for x and half for y (MAE).</summary>
    Sincos2D,
    /// <summary>2D rotary embedding of q and k with fixed axial frequencies (Heo et al., ECCV 2024).</summary>
    RopeAxial,
    /// <summary>2D rotary embedding of q and k with learned mixed frequencies (Heo et al., ECCV 2024).</summary>
    RopeMixed,
    /// <summary>Contextual position encoding (Golovneva et al., 2024) over the flattened patch tokens.</summary>
    Cope,
    /// <summary>2D semantic-aware position encoding (Chen et al., 2025), the subject of this library.</summary>
    Sape2,
}

/// <summary>Which vector SaPE² projects on its embedding tables (Eq. 13).</summary>
public enum Sape2Mode
{
    /// <summary>Q mode: <c>z = q·E</c>.</summary>
    Query,
    /// <summary>K mode: <c>z = k·E</c>, the paper's best (93.98 vs 90.17 top-1 on CIFAR-10).</summary>
    Key,
}
