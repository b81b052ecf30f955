using Microsoft.ML.Data;
using SkiaSharp;

/// <summary>
/// Decodes an image file with SkiaSharp (the codec ML.NET's images use), turned upright as its EXIF orientation says; a file that is
/// not an image, is cut short or is over 100 megapixels is refused naming the file.
/// </summary>
static class UprightImage
{
    private const long MaxPixels = 100_000_000;

    /// <summary>The upright image as an ML.NET image (RGBA).</summary>
    public static MLImage Read(string path)
    {
        var (rgba, width, height) = Upright(path);
        return MLImage.CreateFromPixels(width, height, MLPixelFormat.Rgba32, rgba);
    }

    /// <summary>
    /// The upright image — centre-cropped to the model's aspect first when <paramref name="keepAspect"/>, as the library crops — resized
    /// to <paramref name="width"/> × <paramref name="height"/> (bilinear, as the library resizes) as channel-major 0–255 floats: one luma
    /// plane (0.299 R + 0.587 G + 0.114 B, rounded, as the library's grayscale) or R, G, B planes.
    /// </summary>
    public static float[] Pixels(string path, int channels, int height, int width, bool keepAspect)
    {
        var (rgba, w, h) = Upright(path);
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var whole = new SKBitmap(info);
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, whole.GetPixels(), rgba.Length);
        using var cropped = keepAspect ? CentreCrop(whole, (double)width / height) : null;
        var upright = cropped ?? whole;
        var size = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
#if SKIASHARP2   // ML.NET 5 brings SkiaSharp 2.88, which calls bilinear without mipmaps "Low"
        using var resized = upright.Width == width && upright.Height == height ? upright.Copy() : upright.Resize(size, SKFilterQuality.Low);
#else
        using var resized = upright.Width == width && upright.Height == height ? upright.Copy()
            : upright.Resize(size, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));   // bilinear, without mipmaps
#endif
        var pixels = resized.GetPixelSpan();
        int plane = width * height;
        var planes = new float[channels * plane];
        for (int i = 0; i < plane; i++)
        {
            byte r = pixels[4 * i], g = pixels[4 * i + 1], b = pixels[4 * i + 2];
            if (channels == 1) planes[i] = (float)Math.Round(0.299 * r + 0.587 * g + 0.114 * b);
            else (planes[i], planes[plane + i], planes[2 * plane + i]) = (r, g, b);
        }
        return planes;
    }

    /// <summary>The centred crop of <paramref name="aspect"/> (width / height), as the library takes it; null when the image has that
    /// aspect.</summary>
    private static SKBitmap? CentreCrop(SKBitmap bitmap, double aspect)
    {
        int cropWidth = Math.Min(bitmap.Width, Math.Max(1, (int)Math.Round(bitmap.Height * aspect)));
        int cropHeight = Math.Min(bitmap.Height, Math.Max(1, (int)Math.Round(cropWidth / aspect)));
        if (cropWidth == bitmap.Width && cropHeight == bitmap.Height) return null;
        var subset = new SKBitmap();
        var area = SKRectI.Create((bitmap.Width - cropWidth) / 2, (bitmap.Height - cropHeight) / 2, cropWidth, cropHeight);
        if (!bitmap.ExtractSubset(subset, area)) { subset.Dispose(); return null; }
        return subset;
    }

    private static (byte[] Rgba, int Width, int Height) Upright(string path)
    {
        using var data = SKData.Create(path) ?? throw new InvalidDataException($"'{path}' cannot be read.");
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException($"'{path}' is not a PNG, JPEG, BMP, GIF or WebP image, or it " +
            "is corrupt.");
        int w = codec.Info.Width, h = codec.Info.Height;
        if ((long)w * h > MaxPixels) throw new InvalidDataException($"'{path}' is {w}×{h} pixels, over the limit of {MaxPixels:N0}.");
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result == SKCodecResult.IncompleteInput) throw new InvalidDataException($"'{path}' is truncated: its data ends before the last row.");
        if (result != SKCodecResult.Success) throw new InvalidDataException($"'{path}' could not be decoded ({result}).");
        var stored = bitmap.GetPixelSpan().ToArray();
        bool sideways = codec.EncodedOrigin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom
            or SKEncodedOrigin.LeftBottom;
        int width = sideways ? h : w, height = sideways ? w : h;
        var upright = new byte[stored.Length];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                // The stored pixel the viewer shows at (x, y), for each EXIF orientation (tag 0x0112).
                var (sx, sy) = codec.EncodedOrigin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),
                    _ => (x, y),
                };
                Array.Copy(stored, 4 * (sy * w + sx), upright, 4 * (y * width + x), 4);
            }
        return (upright, width, height);
    }
}
