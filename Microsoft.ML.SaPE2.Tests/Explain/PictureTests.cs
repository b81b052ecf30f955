using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Explain;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using SkiaSharp;

namespace Microsoft.ML.SaPE2.Tests.Explain;

[TestClass]
public sealed class PictureTests
{
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-pictures-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    static SKBitmap Open(string path) => SKBitmap.Decode(path) ?? throw new AssertFailedException($"{path} is not a PNG.");

    [TestMethod]
    public void TrainingCurvesDrawOneOrManyEpochs()
    {
        string one = Path.Combine(folder, "one.png"), many = Path.Combine(folder, "many.png");
        TrainingCurves.Render(new[] { new EpochMetrics(1, 2.3, 0.1, null, null, 1e-3, 1) }, one);
        TrainingCurves.Render(Enumerable.Range(1, 20).Select(e => new EpochMetrics(e, 2.0 / e, 1 - 1.0 / e, 2.2 / e, 0.9 - 1.0 / e, 1e-3,
            1)).ToArray(), many);
        using var bitmap = Open(many);
        Assert.AreEqual((960, 400), (bitmap.Width, bitmap.Height));
        // Pixels of each line's colour above the legend (y < 360); the white background is neither.
        static int Count(SKBitmap b, Func<SKColor, bool> colour) =>
            Enumerable.Range(0, b.Width).Sum(x => Enumerable.Range(0, 360).Count(y => colour(b.GetPixel(x, y))));
        static bool SteelBlue(SKColor c) => c.Blue > 150 && c.Red < 120;   // (70, 130, 180)
        static bool DarkOrange(SKColor c) => c.Red > 200 && c.Blue < 80;   // (255, 140, 0)
        Assert.IsTrue(Count(bitmap, SteelBlue) > 200, "No training line drawn.");
        Assert.IsTrue(Count(bitmap, DarkOrange) > 200, "No validation line drawn.");
        using var single = Open(one);
        Assert.IsTrue(Count(single, SteelBlue) > 0, "One epoch's training point is not drawn.");
        Assert.AreEqual(0, Count(single, DarkOrange), "One epoch without validation has no validation point.");
        Assert.ThrowsExactly<ArgumentException>(() => TrainingCurves.Render(Array.Empty<EpochMetrics>(), one));
    }

    [TestMethod]
    public void ConfusionMatrixScalesWithClassesAndHandlesOneClass()
    {
        string one = Path.Combine(folder, "one.png"), ten = Path.Combine(folder, "ten.png");
        ConfusionMatrixImage.Render(new double[,] { { 5 } }, new[] { "only" }, one);
        var counts = new double[10, 10];
        for (int i = 0; i < 10; i++) counts[i, i] = 10 + i;
        ConfusionMatrixImage.Render(counts, Enumerable.Range(0, 10).Select(i => $"class {i}").ToArray(), ten);
        using var bitmap = Open(ten);
        Assert.AreEqual(130 + 10 * 48 + 20, bitmap.Width);
        var empty = bitmap.GetPixel(130 + 48 + 10, 130 + 10);       // row 0, column 1: count 0 → darkest
        var diagonal = bitmap.GetPixel(130 + 9 * 48 + 40, 130 + 9 * 48 + 40);   // the largest count → brightest
        Assert.IsTrue(diagonal.Red + diagonal.Green > empty.Red + empty.Green, "The largest count is not the brightest cell.");
        Assert.ThrowsExactly<ArgumentException>(() => ConfusionMatrixImage.Render(new double[2, 3], new[] { "a", "b" }, one));
    }

    [TestMethod]
    [DataRow(8, 4)]   // 2×2 grid
    [DataRow(4, 4)]   // a single patch
    public void AttentionPicturesHaveOneTilePerLayerAndHead(int imageSize, int patchSize)
    {
        var config = VitConfig.FromPreset(VitPreset.Micro, imageSize, patchSize, inChannels: 1, numClasses: 2) with { Depth = 2 };
        var format = new ImageFormat { Height = imageSize, Width = imageSize, Channels = 1 };
        using var classifier = new ImageClassifier(new VisionTransformer(config), format, Normalization.Default(1), new[] { "a", "b" },
            Array.Empty<EpochMetrics>());
        var files = AttentionPictures.Render(classifier, new byte[imageSize * imageSize], 0, 0, folder);
        CollectionAssert.AreEqual(new[] { "sape2-bias.png", "cls-attention.png" }, files.Select(Path.GetFileName).ToArray());
        using var bias = Open(files[0]);
        Assert.AreEqual((70 + 2 * 168, 40 + 2 * 168), (bias.Width, bias.Height), "2 heads × 2 layers of 160-pixel tiles");
        var outside = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => AttentionPictures.Render(classifier, new byte[imageSize * imageSize],
            5, 0, folder));
        StringAssert.Contains(outside.Message, "outside");
    }
}
