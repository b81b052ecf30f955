using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Interop;

/// <summary>
/// Issue 12.2: for every position encoding (and the tokenizers, poolings and SaPE² settings), ONNX Runtime's scores of the exported
/// graph equal the TorchSharp model's within 1e-4 on the embedded Fashion-MNIST test images, top-1 identical. The models are
/// untrained but every weight is randomised (CoPE's table and BatchNorm's statistics included), so no term is trivially zero.
/// </summary>
[TestClass]
public sealed class OnnxParityTests
{
    const int Images = 64;
    static byte[] pixels = Array.Empty<byte>();
    static readonly ImageFormat Fashion = new() { Height = 28, Width = 28, Channels = 1 };

    [ClassInitialize]
    public static void ReadImages(TestContext _)
    {
        string root = Path.Combine(RepositoryPaths.FashionMnistMini, "test");
        var files = Directory.GetDirectories(root).Order(StringComparer.Ordinal)
            .SelectMany(dir => Directory.GetFiles(dir).Order(StringComparer.Ordinal).Take(Images / 10 + 1)).Take(Images);
        pixels = files.SelectMany(f => ImageDecoder.Decode(File.ReadAllBytes(f), Fashion, f)).ToArray();
    }

    static readonly Dictionary<string, VitConfig> Configs = new()
    {
        ["APE"] = Config(PositionEncodingKind.Absolute),
        ["none"] = Config(PositionEncodingKind.None),
        ["sin-cos"] = Config(PositionEncodingKind.Sincos2D),
        ["RoPE-Axial"] = Config(PositionEncodingKind.RopeAxial),
        ["RoPE-Mixed+APE"] = Config(PositionEncodingKind.RopeMixed) with { AbsolutePosition = true },
        ["CoPE+APE"] = Config(PositionEncodingKind.Cope) with { AbsolutePosition = true },
        ["SaPE²+APE K"] = Config(PositionEncodingKind.Sape2) with { AbsolutePosition = true },
        ["SaPE² Q σ−1 outside"] = Config(PositionEncodingKind.Sape2) with
            { Sape2Mode = Sape2Mode.Query, Sape2BiasSign = -1, Sape2BiasInsideScale = false },
        ["SaPE² CCT stem, sequence pooling"] = Config(PositionEncodingKind.Sape2) with
            { Tokenizer = TokenizerKind.Convolutional, Pooling = PoolingKind.SequencePooling },
        ["SaPE² mean pooling, M=4 interpolated"] = Config(PositionEncodingKind.Sape2) with
            { Pooling = PoolingKind.GlobalAverage, Sape2TableSize = 4, Sape2InterpolatePositions = true },
    };

    public static IEnumerable<object[]> Architectures() => Configs.Keys.Select(name => new object[] { name });

    static VitConfig Config(PositionEncodingKind encoding) => new()
    {
        ImageHeight = 28, ImageWidth = 28, PatchSize = 4, InChannels = 1, NumClasses = 10, EmbedDim = 16, Depth = 2, NumHeads = 2,
        PositionEncoding = encoding, AbsolutePosition = false, DropPathRate = 0,
    };

    [TestMethod]
    [DynamicData(nameof(Architectures))]
    public void OnnxRuntimeScoresEqualTorchSharps(string name)
    {
        var config = Configs[name];
        using var classifier = RandomClassifier(config, Fashion);
        var expected = classifier.PredictProbabilities(pixels, Images);
        var (scores, predicted) = RunOnnx(Sape2Onnx.Export(classifier), pixels, Images, Fashion);
        AssertSame(expected, scores, predicted, classifier.ClassNames.Count, name);
    }

    [TestMethod]
    public void ANonSquareGridExportsToo()
    {
        var format = Fashion with { Width = 20 };   // the left 20 columns of each image: a 7×5 grid
        var cropped = new byte[Images * format.PixelCount];
        for (int i = 0; i < Images * 28; i++) Array.Copy(pixels, i * 28, cropped, i * 20, 20);
        var config = Config(PositionEncodingKind.Sape2) with { ImageWidth = 20, AbsolutePosition = true };
        using var classifier = RandomClassifier(config, format);
        var expected = classifier.PredictProbabilities(cropped, Images);
        var (scores, predicted) = RunOnnx(Sape2Onnx.Export(classifier), cropped, Images, format);
        AssertSame(expected, scores, predicted, classifier.ClassNames.Count, "SaPE² on 28×20");
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

    /// <summary>A model of <paramref name="config"/> with every parameter and buffer moved well away from its initial value.</summary>
    internal static ImageClassifier RandomClassifier(VitConfig config, ImageFormat format)
    {
        var model = new VisionTransformer(config);
        var generator = new TorchSharp.torch.Generator(7);
        using (no_grad())
        {
            foreach (var (name, tensor) in model.state_dict())
            {
                if (!tensor.is_floating_point()) continue;
                using var noise = randn(tensor.shape, generator: generator);
                if (name.EndsWith("running_var")) tensor.copy_(noise.abs() + 0.5);
                else tensor.add_(noise * (name.Contains("position") ? 0.5 : 0.2));
            }
        }
        var normalization = new Normalization(new[] { 0.3f }, new[] { 0.35f });
        var classes = Enumerable.Range(0, config.NumClasses).Select(c => $"class{c}").ToArray();
        return new ImageClassifier(model, format, normalization, classes, Array.Empty<EpochMetrics>());
    }

    /// <summary>Scores and predicted indices of <paramref name="count"/> images through ONNX Runtime.</summary>
    internal static (float[] Scores, long[] Predicted) RunOnnx(byte[] model, byte[] images, int count, ImageFormat format)
    {
        using var session = new InferenceSession(model);
        var input = new DenseTensor<float>(images.Select(b => (float)b).ToArray(), new[] { count, format.Channels, format.Height, format.Width });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(Sape2Onnx.InputName, input) });
        var scores = results.Single(r => r.Name == Sape2Onnx.ScoresName).AsTensor<float>().ToArray();
        var predicted = results.Single(r => r.Name == Sape2Onnx.PredictedIndexName).AsTensor<long>().ToArray();
        return (scores, predicted);
    }
}
