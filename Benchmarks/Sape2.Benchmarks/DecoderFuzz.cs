using System.Diagnostics;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using SkiaSharp;

namespace Sape2.Benchmarks;

/// <summary>
/// A seeded mutation fuzz of <see cref="ImageDecoder"/>'s header probe and decoder: valid PNG, JPEG, BMP, GIF and WebP seeds are
/// truncated, bit-flipped, overwritten in their headers (sizes included) and spliced, and each case must either decode
/// to the model's size or fail with an <see cref="InvalidOperationException"/> that names it — no other exception, no
/// native crash (it would end the process), no case slower than <see cref="SlowCase"/>, and no memory growth beyond
/// what the pixel limit allows. Compiled into Benchmarks (thousands of cases) and into the tests (a few hundred).
/// </summary>
public static class DecoderFuzz
{
    /// <summary>The pixel limit the cases are decoded under: 1,024 × 1,024.</summary>
    public const long MaxPixels = 1L << 20;
    /// <summary>A case that takes longer counts as a hang.</summary>
    public static readonly TimeSpan SlowCase = TimeSpan.FromSeconds(10);

    /// <summary>What a run found.</summary>
    public sealed record Outcome(int Cases, int Decoded, int Refused, IReadOnlyList<string> Failures, TimeSpan Slowest, long PeakGrowthBytes);

    /// <summary>Runs <paramref name="cases"/> cases from <paramref name="seed"/>, spread evenly over the five formats.</summary>
    public static Outcome Run(int cases, int seed)
    {
        var seeds = Seeds();
        var format = new ImageFormat { Height = 32, Width = 32, Channels = 3, MaxPixels = MaxPixels };
        var random = new Random(seed);
        var failures = new List<string>();
        int decoded = 0, refused = 0;
        var slowest = TimeSpan.Zero;
        long before = ProcessMemory.Bytes("VmHWM");
        for (int i = 0; i < cases; i++)
        {
            var (kind, original) = seeds[i % seeds.Count];
            var (mutation, bytes) = Mutate(original, random);
            string source = $"fuzz case {i} ({kind}, {mutation})";
            var clock = Stopwatch.StartNew();
            try
            {
                ImageDecoder.Probe(bytes, source);                     // the header read of the automatic recipe's survey
                var pixels = ImageDecoder.Decode(bytes, format, source);
                if (pixels.Length != format.PixelCount) failures.Add($"{source}: {pixels.Length} bytes decoded");
                decoded++;
            }
            catch (InvalidOperationException e) when (e.Message.Contains(source, StringComparison.Ordinal))
            {
                refused++;
            }
            catch (Exception e)
            {
                failures.Add($"{source}: {e.GetType().Name}: {e.Message}");
            }
            if (clock.Elapsed > slowest) slowest = clock.Elapsed;
            if (clock.Elapsed > SlowCase) failures.Add($"{source}: took {clock.Elapsed.TotalSeconds:F1} s");
        }
        return new Outcome(cases, decoded, refused, failures, slowest, Math.Max(0, ProcessMemory.Bytes("VmHWM") - before));
    }

    /// <summary>One valid image of each format, 24×20 pixels of varied colour.</summary>
    public static IReadOnlyList<(string Kind, byte[] Bytes)> Seeds()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(24, 20, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 24; x++) bitmap.SetPixel(x, y, new SKColor((byte)(x * 10), (byte)(y * 12), (byte)((x + y) * 5)));
        using var image = SKImage.FromBitmap(bitmap);
        byte[] Encode(SKEncodedImageFormat f) => image.Encode(f, 90).ToArray();
        return new[]
        {
            ("PNG", Encode(SKEncodedImageFormat.Png)), ("JPEG", Encode(SKEncodedImageFormat.Jpeg)), ("WebP", Encode(SKEncodedImageFormat.Webp)),
            ("BMP", Bmp(bitmap)), ("GIF", Gif(24, 20)),
        };
    }

    private static (string Mutation, byte[] Bytes) Mutate(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        switch (random.Next(6))
        {
            case 0:
                int length = random.Next(original.Length);
                return ($"truncated to {length} bytes", bytes[..length]);
            case 1:
                int flips = 1 + random.Next(8);
                for (int f = 0; f < flips; f++) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return ($"{flips} bit(s) flipped", bytes);
            case 2:
                int at = random.Next(Math.Min(64, bytes.Length));
                byte value = new byte[] { 0x00, 0xFF, 0x7F, 0x80, 0x01 }[random.Next(5)];
                int run = 1 + random.Next(4);
                for (int k = at; k < Math.Min(bytes.Length, at + run); k++) bytes[k] = value;
                return ($"header bytes {at}..{at + run - 1} set to 0x{value:X2}", bytes);
            case 3:
                return SizeField(bytes, random);
            case 4:
                int from = random.Next(bytes.Length), count = 1 + random.Next(Math.Min(64, bytes.Length - from));
                int into = random.Next(bytes.Length);
                var spliced = bytes[..into].Concat(bytes.Skip(from).Take(count)).Concat(bytes[into..]).ToArray();
                return ($"{count} bytes from {from} repeated at {into}", spliced);
            default:
                for (int k = random.Next(bytes.Length); k < bytes.Length; k++) bytes[k] = (byte)random.Next(256);
                return ("random tail", bytes);
        }
    }

    /// <summary>Writes a large width or height where the format keeps it (PNG IHDR, BMP, GIF), or in a random header spot.</summary>
    private static (string, byte[]) SizeField(byte[] bytes, Random random)
    {
        int at = bytes.Length > 24 && bytes[1] == (byte)'P' && bytes[2] == (byte)'N' ? 16 + 4 * random.Next(2)   // PNG: big-endian
            : bytes[0] == (byte)'B' && bytes[1] == (byte)'M' ? 18 + 4 * random.Next(2)                            // BMP: little-endian
            : bytes[0] == (byte)'G' && bytes[1] == (byte)'I' ? 6 + 2 * random.Next(2)                             // GIF: 16-bit LE
            : random.Next(Math.Min(32, bytes.Length - 4));
        uint size = new uint[] { 65_535, 1 << 20, 40_000, 0, 0x7FFF_FFFF }[random.Next(5)];
        BitConverter.GetBytes(size).CopyTo(bytes, at);
        return ($"size field at {at} set to {size}", bytes);
    }

    /// <summary>A 24-bit bottom-up BMP of <paramref name="bitmap"/> (Skia cannot encode BMP); the tests' BMPs too.</summary>
    public static byte[] Bmp(SKBitmap bitmap)
    {
        int width = bitmap.Width, height = bitmap.Height, stride = (width * 3 + 3) & ~3;
        var file = new byte[54 + stride * height];
        "BM"u8.CopyTo(file);
        BitConverter.GetBytes(file.Length).CopyTo(file, 2);
        BitConverter.GetBytes(54).CopyTo(file, 10);
        BitConverter.GetBytes(40).CopyTo(file, 14);
        BitConverter.GetBytes(width).CopyTo(file, 18);
        BitConverter.GetBytes(height).CopyTo(file, 22);
        BitConverter.GetBytes((short)1).CopyTo(file, 26);
        BitConverter.GetBytes((short)24).CopyTo(file, 28);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var c = bitmap.GetPixel(x, height - 1 - y);
                int p = 54 + y * stride + 3 * x;
                (file[p], file[p + 1], file[p + 2]) = (c.Blue, c.Green, c.Red);
            }
        return file;
    }

    /// <summary>
    /// A GIF of four colours in stripes. Skia cannot encode GIF, so the LZW stream is written the simplest valid way:
    /// a clear code before every pixel keeps every code 3 bits wide.
    /// </summary>
    private static byte[] Gif(int width, int height)
    {
        var file = new List<byte>();
        file.AddRange("GIF89a"u8.ToArray());
        file.AddRange(BitConverter.GetBytes((ushort)width));
        file.AddRange(BitConverter.GetBytes((ushort)height));
        file.AddRange(new byte[] { 0xF1, 0, 0 });                                    // global table of 4 colours
        file.AddRange(new byte[] { 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 255, 255 });
        file.Add(0x2C);                                                               // image descriptor
        file.AddRange(new byte[] { 0, 0, 0, 0 });
        file.AddRange(BitConverter.GetBytes((ushort)width));
        file.AddRange(BitConverter.GetBytes((ushort)height));
        file.Add(0);
        file.Add(2);                                                                  // LZW minimum code size
        var codes = new List<int>();
        for (int p = 0; p < width * height; p++) { codes.Add(4); codes.Add((p % width) / 6 % 4); }
        codes.Add(5);                                                                 // end of information
        var packed = new List<byte>();
        int buffer = 0, bits = 0;
        foreach (int code in codes)
        {
            buffer |= code << bits;
            bits += 3;
            while (bits >= 8) { packed.Add((byte)buffer); buffer >>= 8; bits -= 8; }
        }
        if (bits > 0) packed.Add((byte)buffer);
        for (int i = 0; i < packed.Count; i += 255)
        {
            int block = Math.Min(255, packed.Count - i);
            file.Add((byte)block);
            file.AddRange(packed.Skip(i).Take(block));
        }
        file.Add(0);
        file.Add(0x3B);
        return file.ToArray();
    }
}
