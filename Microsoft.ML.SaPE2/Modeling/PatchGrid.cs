namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>A grid of <see cref="Height"/> × <see cref="Width"/> patches, flattened row-major (<c>idx = r·W + c</c>).</summary>
public readonly record struct PatchGrid(int Height, int Width)
{
    /// <summary>Number of patch tokens N = H·W.</summary>
    public int Count => Height * Width;

    /// <inheritdoc />
    public override string ToString() => $"{Height}×{Width}";
}
