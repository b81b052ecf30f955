using SkiaSharp;

namespace Microsoft.ML.SaPE2.Tests.Data;

/// <summary>Small encoded images made in memory for decoder tests.</summary>
internal static class TestImages
{
    /// <summary>A <paramref name="width"/>×<paramref name="height"/> image whose left half is red and right half blue.</summary>
    public static byte[] Encode(SKEncodedImageFormat format, int width = 8, int height = 6, SKColorType colorType = SKColorType.Rgba8888,
        byte alpha = 255)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, colorType, SKAlphaType.Unpremul));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                bitmap.SetPixel(x, y, x < width / 2 ? new SKColor(255, 0, 0, alpha) : new SKColor(0, 0, 255, alpha));
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 100);
        return data.ToArray();
    }

    /// <summary>An uncompressed 24-bit BMP, filled with one colour (written by the decoder fuzz's BMP writer: Skia encodes no BMP).</summary>
    public static byte[] Bmp(int width, int height, byte r, byte g, byte b)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(new SKColor(r, g, b));
        return Sape2.Benchmarks.DecoderFuzz.Bmp(bitmap);
    }

    /// <summary>A 1×1 white GIF.</summary>
    public static byte[] Gif() => Convert.FromBase64String("R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=");

    /// <summary>A PNG whose header claims <paramref name="width"/>×<paramref name="height"/> with no real pixel data behind it (a decompression
    /// bomb's header).</summary>
    public static byte[] PngHeaderOnly(int width, int height)
    {
        var png = Encode(SKEncodedImageFormat.Png, 2, 2);
        // IHDR's width and height sit at bytes 16–23, big-endian; the chunk's CRC follows at 29–32.
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), height);
        uint crc = Crc32(png.AsSpan(12, 17));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), crc);
        return png;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
