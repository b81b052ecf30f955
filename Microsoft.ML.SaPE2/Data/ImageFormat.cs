namespace Microsoft.ML.SaPE2.Data;

/// <summary>How images become model input: size, channels, aspect handling and the decompression-bomb limit.</summary>
public sealed record ImageFormat
{
    /// <summary>Height in pixels after resizing.</summary>
    public int Height { get; init; } = 32;
    /// <summary>Width in pixels after resizing.</summary>
    public int Width { get; init; } = 32;
    /// <summary>1 (grayscale, as ITU-R BT.601 luma) or 3 (RGB). Alpha is dropped.</summary>
    public int Channels { get; init; } = 3;
    /// <summary>Crop the centre to the target aspect before resizing (no distortion) instead of stretching.</summary>
    public bool KeepAspectByCenterCrop { get; init; }
    /// <summary>Images with more pixels than this are refused before decoding (default 64 megapixels).</summary>
    public long MaxPixels { get; init; } = 64L * 1024 * 1024;

    /// <summary>Bytes of one decoded image: Channels × Height × Width.</summary>
    public int PixelCount => Channels * Height * Width;
}
