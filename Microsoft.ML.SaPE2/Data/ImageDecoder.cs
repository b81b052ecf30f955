using SkiaSharp;

namespace Microsoft.ML.SaPE2.Data;

/// <summary>
/// Decodes PNG, JPEG, BMP, GIF (first frame) and WebP with SkiaSharp — the codec ML.NET's <c>MLImage</c> uses — into
/// channel-first bytes (C, H, W) at the model's size, turned upright as the image's EXIF orientation says. Every failure names the
/// image's source.
/// </summary>
internal static class ImageDecoder
{
    /// <summary>Decodes <paramref name="encoded"/> to <paramref name="format"/>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidImageException">The bytes are empty, not a supported image, cut short or over the pixel limit.</exception>
    public static byte[] Decode(ReadOnlySpan<byte> encoded, ImageFormat format, string source)
    {
        using var data = CopyOf(encoded, source);
        using var codec = CodecOf(data, source, format.MaxPixels);
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result == SKCodecResult.IncompleteInput)   // Skia fills the rest with zeros; a silently partial image is worse than an error
            throw new InvalidImageException(source, "is truncated: its data ends before the last row. Replace the file.");
        if (result != SKCodecResult.Success)
            throw new InvalidImageException(source, $"could not be decoded ({result}); the file is probably corrupt.");
        using var upright = Upright(bitmap, codec.EncodedOrigin);
        return FromRgba(upright ?? bitmap, format);
    }

    /// <summary>Whether an image stored with <paramref name="origin"/> is shown with its width and height swapped (EXIF 5–8).</summary>
    private static bool ShownSideways(SKEncodedOrigin origin) =>
        origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>
    /// <paramref name="stored"/> turned as its EXIF orientation says (a phone photo stored sideways with Orientation 6 is shown
    /// upright by every viewer), or null when it is stored upright.
    /// </summary>
    internal static SKBitmap? Upright(SKBitmap stored, SKEncodedOrigin origin)
    {
        if (origin is SKEncodedOrigin.TopLeft or (SKEncodedOrigin)0) return null;
        int w = stored.Width, h = stored.Height;
        int width = ShownSideways(origin) ? h : w, height = ShownSideways(origin) ? w : h;
        // For each displayed pixel (x, y), the stored pixel it shows (EXIF 2.3, tag 0x0112).
        Func<int, int, (int X, int Y)> storedAt = origin switch
        {
            SKEncodedOrigin.TopRight => (x, y) => (w - 1 - x, y),                 // 2: mirrored left–right
            SKEncodedOrigin.BottomRight => (x, y) => (w - 1 - x, h - 1 - y),      // 3: turned 180°
            SKEncodedOrigin.BottomLeft => (x, y) => (x, h - 1 - y),               // 4: mirrored top–bottom
            SKEncodedOrigin.LeftTop => (x, y) => (y, x),                          // 5: transposed
            SKEncodedOrigin.RightTop => (x, y) => (y, h - 1 - x),                 // 6: shown turned 90° clockwise
            SKEncodedOrigin.RightBottom => (x, y) => (w - 1 - y, h - 1 - x),      // 7: transversed
            SKEncodedOrigin.LeftBottom => (x, y) => (w - 1 - y, x),               // 8: shown turned 90° counter-clockwise
            _ => (x, y) => (x, y),
        };
        var source = stored.GetPixelSpan();
        var turned = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var target = new byte[4 * width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var (sx, sy) = storedAt(x, y);
                source.Slice(4 * (sy * w + sx), 4).CopyTo(target.AsSpan(4 * (y * width + x), 4));
            }
        System.Runtime.InteropServices.Marshal.Copy(target, 0, turned.GetPixels(), target.Length);
        return turned;
    }

    /// <summary>
    /// The stored size and colour of <paramref name="encoded"/>, from its header alone: the checks <see cref="Decode"/> makes
    /// before it reads a pixel (empty, not an image, over <paramref name="maxPixels"/>), at a fraction of its cost.
    /// <paramref name="source"/> names it in errors.
    /// </summary>
    public static ImageShape Probe(ReadOnlySpan<byte> encoded, string source, long maxPixels = long.MaxValue)
    {
        using var data = CopyOf(encoded, source);
        using var codec = CodecOf(data, source, maxPixels);
        var (width, height) = ShownSideways(codec.EncodedOrigin) ? (codec.Info.Height, codec.Info.Width) : (codec.Info.Width, codec.Info.Height);
        return new ImageShape(width, height, codec.Info.ColorType == SKColorType.Gray8);
    }

    /// <summary>The shape of decoded RGBA pixels: grayscale when every pixel has R = G = B.</summary>
    public static ImageShape Probe(ReadOnlySpan<byte> rgba, int width, int height)
    {
        bool gray = true;
        for (int i = 0; i + 2 < rgba.Length && gray; i += 4) gray = rgba[i] == rgba[i + 1] && rgba[i + 1] == rgba[i + 2];
        return new ImageShape(width, height, gray);
    }

    /// <summary>Converts decoded RGBA pixels (<paramref name="width"/> × <paramref name="height"/>, row-major) to <paramref
    /// name="format"/>.</summary>
    public static byte[] FromRgba(ReadOnlySpan<byte> rgba, int width, int height, ImageFormat format, string source)
    {
        if (width <= 0 || height <= 0 || rgba.Length != 4L * width * height)
            throw new InvalidImageException(source, $"has {rgba.Length} bytes, which is not {width}×{height} RGBA pixels.");
        if ((long)width * height > format.MaxPixels)
            throw new InvalidImageException(source, $"is {width}×{height} pixels, over the limit of {format.MaxPixels:N0}.");
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        System.Runtime.InteropServices.Marshal.Copy(rgba.ToArray(), 0, bitmap.GetPixels(), rgba.Length);
        return FromRgba(bitmap, format);
    }

    /// <summary>
    /// Converts channel-first pixels (<paramref name="channels"/> = 1 or 3 planes of <paramref name="height"/> ×
    /// <paramref name="width"/>, as in IDX and CIFAR files) to <paramref name="format"/>, resizing only when needed.
    /// </summary>
    public static byte[] FromPlanar(ReadOnlySpan<byte> planar, int channels, int height, int width, ImageFormat format, string source)
    {
        var rgba = PlanarToRgba(planar, channels, height, width, source);
        if (height == format.Height && width == format.Width && !format.KeepAspectByCenterCrop)
            return ToChannelsFirst(rgba, format);
        return FromRgba(rgba, width, height, format, source);
    }

    /// <summary>Channel-first pixels (1 or 3 planes of <paramref name="height"/> × <paramref name="width"/>) as opaque RGBA, row-major.</summary>
    public static byte[] PlanarToRgba(ReadOnlySpan<byte> planar, int channels, int height, int width, string source)
    {
        int plane = height * width;
        if (channels is not (1 or 3) || planar.Length != channels * plane)
            throw new InvalidImageException(source, $"has {planar.Length} bytes, which is not {channels}×{height}×{width}.");
        var rgba = new byte[4 * plane];
        for (int i = 0; i < plane; i++)
        {
            rgba[4 * i] = planar[i];
            rgba[4 * i + 1] = planar[(channels == 3 ? plane : 0) + i];
            rgba[4 * i + 2] = planar[(channels == 3 ? 2 * plane : 0) + i];
            rgba[4 * i + 3] = 255;
        }
        return rgba;
    }

    private static SKData CopyOf(ReadOnlySpan<byte> encoded, string source) => encoded.IsEmpty
        ? throw new InvalidImageException(source, "is empty (0 bytes).")
        : SKData.CreateCopy(encoded);

    private static SKCodec CodecOf(SKData data, string source, long maxPixels)
    {
        var codec = SKCodec.Create(data)
            ?? throw new InvalidImageException(source, "is not a PNG, JPEG, BMP, GIF or WebP image, or it is corrupt.");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if ((long)width * height <= maxPixels) return codec;
        codec.Dispose();
        throw new InvalidImageException(source, $"is {width}×{height} = {(long)width * height:N0} pixels, over the limit of " +
            $"{maxPixels:N0}. Shrink it or raise MaxPixels.");
    }

    private static byte[] FromRgba(SKBitmap bitmap, ImageFormat format)
    {
        using var cropped = format.KeepAspectByCenterCrop ? CenterCrop(bitmap, (double)format.Width / format.Height) : null;
        var input = cropped ?? bitmap;
        var target = new SKImageInfo(format.Width, format.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var resized = input.Width == format.Width && input.Height == format.Height
            ? input.Copy()
            : ResizeBilinear(input, target);
        return ToChannelsFirst(resized.GetPixelSpan(), format);
    }

    /// <summary>Bilinear, without mipmaps. SkiaSharp 3 (ML.NET 6) names the sampling; 2.88 (ML.NET 5) calls the same one "Low".</summary>
    private static SKBitmap ResizeBilinear(SKBitmap input, SKImageInfo target) =>
#if SKIASHARP2
        input.Resize(target, SKFilterQuality.Low);
#else
        input.Resize(target, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));
#endif

    private static SKBitmap? CenterCrop(SKBitmap bitmap, double aspect)
    {
        int width = bitmap.Width, height = bitmap.Height;
        int cropWidth = Math.Min(width, Math.Max(1, (int)Math.Round(height * aspect)));
        int cropHeight = Math.Min(height, Math.Max(1, (int)Math.Round(cropWidth / aspect)));
        if (cropWidth == width && cropHeight == height) return null;
        var subset = new SKBitmap();
        var area = SKRectI.Create((width - cropWidth) / 2, (height - cropHeight) / 2, cropWidth, cropHeight);
        if (!bitmap.ExtractSubset(subset, area)) { subset.Dispose(); return null; }
        return subset;
    }

    private static byte[] ToChannelsFirst(ReadOnlySpan<byte> rgba, ImageFormat format)
    {
        int plane = format.Height * format.Width;
        var output = new byte[format.PixelCount];
        for (int i = 0; i < plane; i++)
        {
            byte r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
            if (format.Channels == 1)
                output[i] = (byte)Math.Round(0.299 * r + 0.587 * g + 0.114 * b);
            else
            {
                output[i] = r;
                output[plane + i] = g;
                output[2 * plane + i] = b;
            }
        }
        return output;
    }
}
