using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>
/// Models of every position encoding for checking exports outside .NET: the ONNX parity tests use them directly, and
/// <c>B pytorch-fixtures --out DIR</c> writes each as safetensors with the embedded test images and the scores TorchSharp gives
/// them, for <c>interop/python/check_exports.py DIR</c>. Linked into the tests, like the decoder fuzz.
/// </summary>
internal static class InteropFixtures
{
    /// <summary>The settings every export is checked on: each encoding, both tokenizers, the three poolings, the SaPE² options.</summary>
    public static readonly IReadOnlyDictionary<string, VitConfig> Settings = new Dictionary<string, VitConfig>
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

    /// <summary>28×28 gray, as the embedded Fashion-MNIST images.</summary>
    public static readonly ImageFormat Fashion = new() { Height = 28, Width = 28, Channels = 1 };

    static VitConfig Config(PositionEncodingKind encoding) => new()
    {
        ImageHeight = 28, ImageWidth = 28, PatchSize = 4, InChannels = 1, NumClasses = 10, EmbedDim = 16, Depth = 2, NumHeads = 2,
        PositionEncoding = encoding, AbsolutePosition = false, DropPathRate = 0,
    };

    /// <summary>The first <paramref name="count"/> embedded test images (a few of each class), decoded to <see cref="Fashion"/>.</summary>
    public static byte[] TestImages(string repository, int count)
    {
        string root = Path.Combine(repository, "Samples", "data", "fashion-mnist-mini", "test");
        var files = Directory.GetDirectories(root).Order(StringComparer.Ordinal)
            .SelectMany(dir => Directory.GetFiles(dir).Order(StringComparer.Ordinal).Take(count / 10 + 1)).Take(count);
        return files.SelectMany(f => ImageDecoder.Decode(File.ReadAllBytes(f), Fashion, f)).ToArray();
    }

    /// <summary>A model of <paramref name="config"/> with every parameter and buffer moved well away from its initial value (CoPE's
    /// zero table and BatchNorm's statistics too), so no term of an export is trivially zero.</summary>
    public static ImageClassifier RandomClassifier(VitConfig config, ImageFormat format)
    {
        var model = new VisionTransformer(config);
        var generator = new Generator(7);
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

    /// <summary>Scores and predicted indices of <paramref name="count"/> images (bytes, count × C × H × W) through an exported model.</summary>
    public static (float[] Scores, long[] Predicted) RunOnnx(InferenceSession session, byte[] images, int count, ImageFormat format)
    {
        var input = new DenseTensor<float>(images.Select(b => (float)b).ToArray(), new[] { count, format.Channels, format.Height, format.Width });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(Sape2Onnx.InputName, input) });
        var scores = results.Single(r => r.Name == Sape2Onnx.ScoresName).AsTensor<float>().ToArray();
        var predicted = results.Single(r => r.Name == Sape2Onnx.PredictedIndexName).AsTensor<long>().ToArray();
        return (scores, predicted);
    }

    /// <summary>Writes, per setting, <c>NAME.safetensors</c>, <c>NAME.pixels</c> (uint8, images × C × H × W) and <c>NAME.scores</c>
    /// (float32 little-endian, images × classes: TorchSharp's probabilities).</summary>
    public static void Write(string repository, string folder, int images, TextWriter report)
    {
        Directory.CreateDirectory(folder);
        var pixels = TestImages(repository, images);
        foreach (var (name, config) in Settings)
        {
            string stem = Path.Combine(folder, name.Replace(' ', '_').Replace(',', '_'));
            using var classifier = RandomClassifier(config, Fashion);
            Sape2Safetensors.Save(classifier, stem + ".safetensors");
            File.WriteAllBytes(stem + ".pixels", pixels);
            var scores = classifier.PredictProbabilities(pixels, images);
            File.WriteAllBytes(stem + ".scores", System.Runtime.InteropServices.MemoryMarshal.AsBytes(scores.AsSpan()).ToArray());
            report.WriteLine($"wrote {stem}.safetensors / .pixels / .scores ({images} images)");
        }
    }
}
