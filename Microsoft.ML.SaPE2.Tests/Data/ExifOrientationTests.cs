using Microsoft.ML.SaPE2.Data;
using SkiaSharp;

namespace Microsoft.ML.SaPE2.Tests.Data;

/// <summary>
/// Images are decoded upright, as their EXIF orientation (tag 0x0112) says and as every photo viewer shows them: a JPEG stored turned
/// or mirrored with orientation 1–8 decodes to the same picture.
/// </summary>
[TestClass]
public sealed class ExifOrientationTests
{
    private const int Width = 32, Height = 16;   // the upright picture; orientations 5–8 store it 16 wide and 32 high

    /// <summary>The upright picture: a white block in the top-left corner and a gray one at the bottom right, on black.</summary>
    internal static SKBitmap Upright()
    {
        var bitmap = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.Black);
        using var white = new SKPaint { Color = SKColors.White };
        using var gray = new SKPaint { Color = new SKColor(128, 128, 128) };
        canvas.DrawRect(0, 0, 8, 8, white);
        canvas.DrawRect(16, 8, 16, 8, gray);
        return bitmap;
    }

    /// <summary>
    /// The upright picture as a camera stores it with <paramref name="orientation"/>, JPEG-encoded with that EXIF tag. Each stored form
    /// is drawn by a canvas transform from the orientation's definition (2: mirrored left–right; 3: turned 180°; 4: mirrored top–bottom;
    /// 5: transposed; 6: stored turned 90° counter-clockwise, so a viewer turns it clockwise; 7: transversed; 8: stored turned 90°
    /// clockwise).
    /// </summary>
    internal static byte[] StoredJpeg(int orientation)
    {
        using var upright = Upright();
        bool sideways = orientation >= 5;
        using var stored = new SKBitmap(new SKImageInfo(sideways ? Height : Width, sideways ? Width : Height, SKColorType.Rgba8888,
            SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(stored))
        {
            // Each matrix maps an upright point (x, y) to where the stored image keeps it:
            // (ScaleX·x + SkewX·y + TransX, SkewY·x + ScaleY·y + TransY).
            var matrix = orientation switch
            {
                1 => SKMatrix.Identity,
                2 => new SKMatrix(-1, 0, Width, 0, 1, 0, 0, 0, 1),
                3 => new SKMatrix(-1, 0, Width, 0, -1, Height, 0, 0, 1),
                4 => new SKMatrix(1, 0, 0, 0, -1, Height, 0, 0, 1),
                5 => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
                6 => new SKMatrix(0, 1, 0, -1, 0, Width, 0, 0, 1),
                7 => new SKMatrix(0, -1, Height, -1, 0, Width, 0, 0, 1),
                8 => new SKMatrix(0, -1, Height, 1, 0, 0, 0, 0, 1),
                _ => throw new ArgumentOutOfRangeException(nameof(orientation)),
            };
            canvas.SetMatrix(matrix);
            canvas.DrawBitmap(upright, 0, 0);
        }
        using var image = SKImage.FromBitmap(stored);
        using var jpeg = image.Encode(SKEncodedImageFormat.Jpeg, 100);
        return WithOrientation(jpeg.ToArray(), orientation);
    }

    /// <summary><paramref name="jpeg"/> with an EXIF APP1 segment after its start marker holding only the orientation tag.</summary>
    internal static byte[] WithOrientation(byte[] jpeg, int orientation)
    {
        byte[] app1 =
        [
            0xFF, 0xE1, 0x00, 34, (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0,
            (byte)'M', (byte)'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,            // big-endian TIFF header, first IFD at 8
            0x00, 0x01,                                                        // one entry
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, (byte)orientation, 0x00, 0x00,   // Orientation, SHORT, 1 value
            0x00, 0x00, 0x00, 0x00,                                            // no next IFD
        ];
        return [.. jpeg.AsSpan(0, 2), .. app1, .. jpeg.AsSpan(2)];
    }

    [TestMethod]
    [DataRow(1), DataRow(2), DataRow(3), DataRow(4), DataRow(5), DataRow(6), DataRow(7), DataRow(8)]
    public void EachOrientationDecodesUpright(int orientation)
    {
        var format = new ImageFormat { Height = Height, Width = Width, Channels = 1 };
        byte[] encoded = StoredJpeg(orientation);
        var shape = ImageDecoder.Probe(encoded, $"orientation {orientation}");
        Assert.AreEqual((Width, Height), (shape.Width, shape.Height), "The probe reports the upright size.");
        var decoded = ImageDecoder.Decode(encoded, format, $"orientation {orientation}");
        using var upright = Upright();
        var expected = ImageDecoder.FromRgba(upright.GetPixelSpan(), Width, Height, format, "upright");
        double meanError = decoded.Zip(expected, (a, b) => Math.Abs(a - b)).Average();
        Assert.IsTrue(meanError < 6, $"Orientation {orientation} decodes {meanError:F1} gray levels away (on average) from the upright picture.");
        Assert.IsTrue(decoded[0] > 200 && decoded[Width * Height - 1] is > 90 and < 170, $"Orientation {orientation}: the corners are " +
            $"{decoded[0]} (white expected) and {decoded[Width * Height - 1]} (gray expected).");
    }
}
