using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;

using Sape2.Benchmarks;

namespace Microsoft.ML.SaPE2.Tests.Interop;

/// <summary>
/// For every position encoding (and the tokenizers, poolings and SaPE² settings), ONNX Runtime's scores of the exported
/// graph equal the TorchSharp model's within 1e-4 on the embedded Fashion-MNIST test images, top-1 identical. The models are
/// untrained but every weight is randomised (CoPE's table and BatchNorm's statistics included), so no term is trivially zero.
/// </summary>
[TestClass]
public sealed class OnnxParityTests
{
    const int Images = 64;
    static byte[] pixels = Array.Empty<byte>();
    static readonly ImageFormat Fashion = InteropFixtures.Fashion;

    [ClassInitialize]
    public static void ReadImages(TestContext _) => pixels = InteropFixtures.TestImages(RepositoryPaths.Root, Images);

    public static IEnumerable<object[]> Architectures() => InteropFixtures.Settings.Keys.Select(name => new object[] { name });

    [TestMethod]
    [DynamicData(nameof(Architectures))]
    public void OnnxRuntimeScoresEqualTorchSharps(string name)
    {
        using var classifier = InteropFixtures.RandomClassifier(InteropFixtures.Settings[name], Fashion);
        var expected = classifier.PredictProbabilities(pixels, Images);
        using var session = new InferenceSession(Sape2Onnx.Export(classifier));
        var (scores, predicted) = InteropFixtures.RunOnnx(session, pixels, Images, Fashion);
        AssertSame(expected, scores, predicted, classifier.ClassNames.Count, name);
    }

    [TestMethod]
    [DynamicData(nameof(Architectures))]
    public void ANonSquareGridExportsToo(string name)
    {
        var format = Fashion with { Width = 20 };   // the left 20 columns of each image: a 7×5 grid
        var cropped = new byte[Images * format.PixelCount];
        for (int i = 0; i < Images * 28; i++) Array.Copy(pixels, i * 28, cropped, i * 20, 20);
        var config = InteropFixtures.Settings[name] with { ImageWidth = 20 };
        using var classifier = InteropFixtures.RandomClassifier(config, format);
        var expected = classifier.PredictProbabilities(cropped, Images);
        using var session = new InferenceSession(Sape2Onnx.Export(classifier));
        var (scores, predicted) = InteropFixtures.RunOnnx(session, cropped, Images, format);
        AssertSame(expected, scores, predicted, classifier.ClassNames.Count, $"{name} on 28×20");
    }

    [TestMethod]
    public void AnExportWhoseTableClampsPositionsScoresAsTorchSharp()
    {
        // M = 4 on a 7×7 grid without interpolation: positions past 3 are held at the table's last entry in both runtimes.
        var config = InteropFixtures.Settings["SaPE²+APE K"] with { Sape2TableSize = 4 };
        using var classifier = InteropFixtures.RandomClassifier(config, Fashion);
        var counter = new PositionClampCounter();
        foreach (var layer in classifier.Model.modules().OfType<Sape2Attention>()) layer.ClampCounter = counter;
        var expected = classifier.PredictProbabilities(pixels, Images);
        Assert.IsTrue(counter.Fraction > 0.05, $"Only {counter.Fraction:P1} of the positions reached the clamp: the case does not test it.");
        using var session = new InferenceSession(Sape2Onnx.Export(classifier));
        var (scores, predicted) = InteropFixtures.RunOnnx(session, pixels, Images, Fashion);
        AssertSame(expected, scores, predicted, classifier.ClassNames.Count, "SaPE² with M = 4 on 7×7");
    }

    [TestMethod]
    [DataRow(PositionEncodingKind.Sape2, 16, 96)]
    [DataRow(PositionEncodingKind.Absolute, 32, 224)]
    public void AHybridModelExportsWithItsBackbone(PositionEncodingKind encoding, int stride, int side)
    {
        var graph = Microsoft.ML.SaPE2.Interop.Onnx.BackboneFiles.ImageNetResNet18Graph(null, stride);
        var config = VitConfig.FromPreset(VitPreset.Micro, side, stride, 3, 4) with
        {
            Tokenizer = TokenizerKind.PretrainedBackbone, Backbone = graph, PositionEncoding = encoding, Pooling = PoolingKind.GlobalAverage,
        };
        var format = new ImageFormat { Height = side, Width = side, Channels = 3 };
        var model = new VisionTransformer(config);
        using (var weights = Microsoft.ML.SaPE2.Interop.Onnx.BackboneFiles.Weights(graph, null)) model.Backbone!.LoadWeights(weights!.Tensors);
        using (TorchSharp.torch.no_grad()) model.state_dict()["head.weight"].mul_(20);   // scores far from uniform
        using var classifier = new ImageClassifier(model, format, Normalization.PixelValues(3), new[] { "a", "b", "c", "d" },
            Array.Empty<EpochMetrics>());
        const int count = 4;
        var photos = new byte[count * format.PixelCount];
        using (var images = Microsoft.ML.SaPE2.Tests.Modeling.GraphBackboneTests.ColourImages(count, side, side).to(TorchSharp.torch.ScalarType.Byte))
            images.bytes.ToArray().CopyTo(photos, 0);
        var expected = classifier.PredictProbabilities(photos, count);
        using var session = new InferenceSession(Sape2Onnx.Export(classifier));
        var (scores, predicted) = InteropFixtures.RunOnnx(session, photos, count, format);
        AssertSame(expected, scores, predicted, 4, $"hybrid {encoding} at stride {stride}, {side} px");
    }

    static void AssertSame(float[] expected, float[] scores, long[] predicted, int classes, string name)
    {
        double worst = expected.Zip(scores, (a, b) => Math.Abs(a - b)).Max();
        Assert.IsTrue(worst <= 1e-4, $"{name}: ONNX Runtime's scores differ from TorchSharp's by up to {worst:E2}.");
        for (int i = 0; i < predicted.Length; i++)
        {
            var row = expected.AsSpan(i * classes, classes).ToArray();
            Assert.AreEqual(Array.IndexOf(row, row.Max()), (int)predicted[i], $"{name}: top-1 of image {i}");
        }
        double spread = expected.Select((p, i) => Math.Abs(p - expected[i % classes])).Max();
        Assert.IsTrue(spread > 1e-3, $"{name}: every image gets the same scores; the comparison would prove little.");
    }
}
