using Sape2.Benchmarks;

namespace Microsoft.ML.SaPE2.Tests.Data;

/// <summary>Mutated PNG, JPEG, BMP, GIF and WebP files never crash, hang or over-allocate, and every refusal names the case.</summary>
[TestClass]
public sealed class DecoderFuzzTests
{
    [TestMethod]
    public void EveryFormatIsASeedThatDecodes()
    {
        var format = new SaPE2.Data.ImageFormat { Height = 24, Width = 24, Channels = 3 };
        foreach (var (kind, bytes) in DecoderFuzz.Seeds())
        {
            var shape = SaPE2.Data.ImageDecoder.Probe(bytes, kind);
            Assert.AreEqual((24, 20), (shape.Width, shape.Height), $"{kind} seed size");
            Assert.AreEqual(format.PixelCount, SaPE2.Data.ImageDecoder.Decode(bytes, format, kind).Length, $"{kind} seed decodes");
        }
    }

    [TestMethod]
    public void FiveHundredMutatedImagesFailOnlyWithMessagesThatNameThem()
    {
        var outcome = DecoderFuzz.Run(cases: 500, seed: 2026);
        Assert.AreEqual(0, outcome.Failures.Count, string.Join("\n", outcome.Failures.Take(10)));
        Assert.IsTrue(outcome.Refused > 100 && outcome.Decoded > 50,
            $"The mutations should both break and spare images: {outcome.Refused} refused, {outcome.Decoded} decoded.");
        Assert.IsTrue(outcome.PeakGrowthBytes < 256L << 20, $"Peak memory grew by {outcome.PeakGrowthBytes >> 20} MiB: more than the " +
            $"{DecoderFuzz.MaxPixels:N0}-pixel limit allows.");
    }
}
