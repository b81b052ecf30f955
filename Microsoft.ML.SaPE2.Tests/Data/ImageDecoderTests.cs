using Microsoft.ML.SaPE2.Data;
using SkiaSharp;

namespace Microsoft.ML.SaPE2.Tests.Data;

[TestClass]
public sealed class ImageDecoderTests
{
    static readonly ImageFormat Rgb8 = new() { Height = 6, Width = 8, Channels = 3 };

    [TestMethod]
    [DataRow(SKEncodedImageFormat.Png)]
    [DataRow(SKEncodedImageFormat.Jpeg)]
    [DataRow(SKEncodedImageFormat.Webp)]
    public void DecodesEncodedFormatsChannelFirst(SKEncodedImageFormat encoding)
    {
        var pixels = ImageDecoder.Decode(TestImages.Encode(encoding), Rgb8, $"test.{encoding}");
        Assert.AreEqual(3 * 6 * 8, pixels.Length);
        int plane = 48;
        // Pixel (row 2, col 1) is red, (row 2, col 6) is blue; JPEG may be off by a few levels.
        Assert.IsTrue(pixels[2 * 8 + 1] > 230 && pixels[plane + 2 * 8 + 1] < 25 && pixels[2 * plane + 2 * 8 + 1] < 25, $"{encoding}: left pixel " +
            $"is not red.");
        Assert.IsTrue(pixels[2 * 8 + 6] < 25 && pixels[2 * plane + 2 * 8 + 6] > 230, $"{encoding}: right pixel is not blue.");
    }

    [TestMethod]
    public void DecodesBmpAndGif()
    {
        var bmp = ImageDecoder.Decode(TestImages.Bmp(5, 3, 10, 200, 30), new ImageFormat { Height = 3, Width = 5, Channels = 3 }, "test.bmp");
        CollectionAssert.AreEqual(new byte[] { 10, 200, 30 }, new[] { bmp[0], bmp[15], bmp[30] }, "BMP colour");
        var gif = ImageDecoder.Decode(TestImages.Gif(), new ImageFormat { Height = 1, Width = 1, Channels = 1 }, "test.gif");
        Assert.AreEqual(255, gif[0], "GIF pixel");
    }

    [TestMethod]
    public void ConvertsToGrayscaleAndDropsAlpha()
    {
        var gray = ImageDecoder.Decode(TestImages.Encode(SKEncodedImageFormat.Png, alpha: 128), new ImageFormat { Height = 6, Width = 8,
            Channels = 1 }, "rgba.png");
        Assert.AreEqual(48, gray.Length);
        Assert.AreEqual((byte)Math.Round(0.299 * 255), gray[0], "red as BT.601 luma");
        Assert.AreEqual((byte)Math.Round(0.114 * 255), gray[7], "blue as BT.601 luma");
    }

    [TestMethod]
    public void ResizesAndCropsToAspect()
    {
        // 40×10: red in columns 0–9, green in 10–29, blue in 30–39. Stretching keeps all three; the centre 10×10 crop
        // (columns 15–24) is green only.
        using var bitmap = new SKBitmap(40, 10);
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 40; x++) bitmap.SetPixel(x, y, x < 10 ? SKColors.Red : x < 30 ? SKColors.Lime : SKColors.Blue);
        var png = SKImage.FromBitmap(bitmap).Encode(SKEncodedImageFormat.Png, 100).ToArray();
        const int Plane = 16;   // 4×4; pixel (row 1, column c) of channel k is at k·16 + 4 + c
        var stretched = ImageDecoder.Decode(png, new ImageFormat { Height = 4, Width = 4, Channels = 3 }, "wide.png");
        Assert.IsTrue(stretched[4] > 200 && stretched[Plane + 4] < 50, "Stretching keeps red at the left.");
        Assert.IsTrue(stretched[2 * Plane + 7] > 200 && stretched[7] < 50, "Stretching keeps blue at the right.");
        var cropped = ImageDecoder.Decode(png, new ImageFormat { Height = 4, Width = 4, Channels = 3, KeepAspectByCenterCrop = true }, "wide.png");
        for (int c = 0; c < 4; c++)
            Assert.IsTrue(cropped[Plane + 4 + c] > 200 && cropped[4 + c] < 50 && cropped[2 * Plane + 4 + c] < 50,
                $"The centre crop is green only; column {c} is ({cropped[4 + c]}, {cropped[Plane + 4 + c]}, {cropped[2 * Plane + 4 + c]}).");
        var tiny = ImageDecoder.Decode(TestImages.Encode(SKEncodedImageFormat.Png, 1, 1), new ImageFormat { Height = 32, Width = 32, Channels = 3 },
            "1x1.png");
        Assert.AreEqual(3 * 32 * 32, tiny.Length, "A 1×1 image is resized up like any other.");
    }

    [TestMethod]
    public void BadImagesNameTheirSource()
    {
        var empty = Assert.ThrowsExactly<InvalidImageException>(() => ImageDecoder.Decode(Array.Empty<byte>(), Rgb8, "empty.png"));
        StringAssert.Contains(empty.Message, "empty.png");
        StringAssert.Contains(empty.Message, "0 bytes");
        var text = Assert.ThrowsExactly<InvalidImageException>(() => ImageDecoder.Decode("hello, not an image"u8, Rgb8, "notes.jpg"));
        StringAssert.Contains(text.Message, "notes.jpg");
        var png = TestImages.Encode(SKEncodedImageFormat.Png, 64, 64);
        var headerOnly = Assert.ThrowsExactly<InvalidImageException>(() => ImageDecoder.Decode(png.AsSpan(0, 30), Rgb8, "cut.png"));
        StringAssert.Contains(headerOnly.Message, "cut.png");
        var noisy = new byte[64 * 64 * 4];
        new Random(1).NextBytes(noisy);   // incompressible pixels, so cutting the file cuts rows
        using var bitmap = new SKBitmap(new SKImageInfo(64, 64, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        System.Runtime.InteropServices.Marshal.Copy(noisy, 0, bitmap.GetPixels(), noisy.Length);
        var big = SKImage.FromBitmap(bitmap).Encode(SKEncodedImageFormat.Png, 100).ToArray();
        var halfData = Assert.ThrowsExactly<InvalidImageException>(() => ImageDecoder.Decode(big.AsSpan(0, big.Length / 2), Rgb8, "half.png"));
        StringAssert.Contains(halfData.Message, "half.png");
    }

    [TestMethod]
    public void RefusesDecompressionBombsBeforeDecoding()
    {
        var bomb = TestImages.PngHeaderOnly(20000, 20000);
        var e = Assert.ThrowsExactly<InvalidImageException>(() => ImageDecoder.Decode(bomb, Rgb8, "bomb.png"));
        StringAssert.Contains(e.Message, "bomb.png");
        StringAssert.Contains(e.Message, "20000×20000");
        StringAssert.Contains(e.Message, "MaxPixels");
        var header = Assert.ThrowsExactly<InvalidImageException>(() => ImageDecoder.Probe(bomb, "bomb.png", Rgb8.MaxPixels));
        Assert.AreEqual(e.Message, header.Message, "The header check refuses what Decode refuses, in the same words.");
        Assert.AreEqual(new ImageShape(20000, 20000, false), ImageDecoder.Probe(bomb, "bomb.png"), "No limit: the header's size.");
        var strict = Rgb8 with { MaxPixels = 10 };
        Assert.ThrowsExactly<InvalidImageException>(() => ImageDecoder.Decode(TestImages.Encode(SKEncodedImageFormat.Png, 4, 4), strict,
            "small.png"));
    }
}
