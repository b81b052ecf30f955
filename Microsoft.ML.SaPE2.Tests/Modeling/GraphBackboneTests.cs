using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Microsoft.ML.SaPE2.Interop.Onnx;
using Microsoft.ML.SaPE2.Modeling.Backbone;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>
/// The TorchSharp network built from the ONNX graph of ML.NET's ImageNet ResNet18 computes what ONNX Runtime computes from
/// the same files: the pooled 512 features of colour images equal to 1e-4, and the cut feature maps have the grids the
/// graph's arithmetic gives for any image size.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class GraphBackboneTests
{
    const int Images = 3;

    /// <summary>Smooth colour images with edges, RGB values in [0, 255], (n, 3, side, side).</summary>
    internal static Tensor ColourImages(int n, int height, int width, int seed = 5)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        var coarse = rand(new long[] { n, 3, 8, 8 }, generator: generator);
        var smooth = nn.functional.interpolate(coarse, new long[] { height, width }, mode: InterpolationMode.Bilinear, align_corners: false);
        var noise = rand(new long[] { n, 3, height, width }, generator: generator) * 0.15;
        return ((smooth * 0.85 + noise) * 255).clamp(0, 255).MoveToOuterDisposeScope();
    }

    [TestMethod]
    public void ThePooledFeaturesEqualOnnxRuntimes()
    {
        var (preprocessPath, networkPath) = ImageNetResNet18.Files(null);
        var preprocess = OnnxCnnReader.Read(preprocessPath);
        var network = OnnxCnnReader.Read(networkPath);
        Assert.AreEqual(74, network.Nodes.Count, "nodes of the CNTK ResNet18");
        Assert.AreEqual(15.9e6, network.Weights.Values.Sum(w => (double)w.Values.Length), 0.1e6, "parameters and statistics");
        var (graph, weights) = OnnxCnnReader.Compose("ResNet18", 224, network.Outputs[0], preprocess, network);
        using var backbone = new GraphBackbone(graph);
        backbone.LoadWeights(weights);
        foreach (var w in weights.Values) w.Dispose();
        backbone.eval();

        using var images = ColourImages(Images, 224, 224);
        using var noGrad = no_grad();
        using var ours = backbone.forward(images);                         // (B, 512, 1, 1)
        CollectionAssert.AreEqual(new long[] { Images, 512, 1, 1 }, ours.shape);

        using var prep = new InferenceSession(preprocessPath);
        using var resnet = new InferenceSession(networkPath);
        double worst = 0, scale = 0;
        for (int i = 0; i < Images; i++)
        {
            using var one = images[i].unsqueeze(0).contiguous();
            var input = new DenseTensor(one.data<float>().ToArray(), new[] { 1, 3, 224, 224 });
            using var prepared = prep.Run(new[] { NamedOnnxValue.CreateFromTensor(prep.InputMetadata.Keys.Single(), input) });
            var preparedTensor = prepared.First().AsTensor<float>();
            using var pooled = resnet.Run(new[] { NamedOnnxValue.CreateFromTensor(resnet.InputMetadata.Keys.Single(), preparedTensor) });
            var expected = pooled.First().AsEnumerable<float>().ToArray();
            var actual = ours[i].flatten().data<float>().ToArray();
            worst = Math.Max(worst, expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max());
            scale = Math.Max(scale, expected.Max(Math.Abs));
        }
        Assert.IsTrue(scale > 0.1, $"The features are near zero (largest {scale}); the comparison would prove little.");
        Assert.IsTrue(worst <= 1e-4, $"TorchSharp's pooled features differ from ONNX Runtime's by up to {worst:E2} (largest feature {scale:F2}).");
    }

    [TestMethod]
    public void TheCutsGiveTheirGridsAtAnySize()
    {
        var (stride16, w16) = ImageNetResNet18.Load(null, 16);
        var (stride32, w32) = ImageNetResNet18.Load(null, 32);
        try
        {
            Assert.AreEqual(256, stride16.OutputChannels);
            Assert.AreEqual(512, stride32.OutputChannels);
            Assert.AreEqual(16, stride16.Stride);
            Assert.AreEqual(32, stride32.Stride);
            using var backbone = new GraphBackbone(stride32);
            backbone.LoadWeights(w32);
            backbone.eval();
            using var noGrad = no_grad();
            foreach (var (h, w) in new[] { (224, 224), (160, 192), (97, 130) })
            {
                using var images = ColourImages(2, h, w);
                using var map = backbone.forward(images);
                var grid = stride32.GridFor(h, w);
                CollectionAssert.AreEqual(new long[] { 2, 512, grid.Height, grid.Width }, map.shape, $"{h}×{w}");
                Assert.IsTrue(map.isfinite().all().item<bool>() && map.abs().max().item<float>() > 0, $"{h}×{w}: finite, non-zero features");
            }
            Assert.AreEqual(new Microsoft.ML.SaPE2.Modeling.PatchGrid(14, 14), stride16.GridFor(224, 224));
            Assert.AreEqual(new Microsoft.ML.SaPE2.Modeling.PatchGrid(7, 7), stride32.GridFor(224, 224));
            var tooSmall = Assert.ThrowsExactly<ArgumentException>(() => stride32.GridFor(2, 2));
            StringAssert.Contains(tooSmall.Message, "too small");
        }
        finally
        {
            foreach (var t in w16.Values.Concat(w32.Values)) t.Dispose();
        }
    }

    [TestMethod]
    public void AMissingOrDamagedFileIsNamed()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"sape2-backbone-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(folder, "ResNetPrepOnnx"));
        Directory.CreateDirectory(Path.Combine(folder, "ResNet18Onnx"));
        try
        {
            var missing = Assert.ThrowsExactly<FileNotFoundException>(() => ImageNetResNet18.Load(folder, 32));
            StringAssert.Contains(missing.Message, ImageNetResNet18.Package);
            var (preprocess, network) = ImageNetResNet18.Files(folder);
            File.Copy(ImageNetResNet18.Files(null).Preprocess, preprocess);
            var whole = File.ReadAllBytes(ImageNetResNet18.Files(null).Network);
            File.WriteAllBytes(network, whole.AsSpan(0, whole.Length / 2).ToArray());   // a truncated download
            var damaged = Assert.ThrowsExactly<InvalidDataException>(() => ImageNetResNet18.Load(folder, 32));
            StringAssert.Contains(damaged.Message, network);
            File.WriteAllText(network, "not a model");
            Assert.ThrowsExactly<InvalidDataException>(() => ImageNetResNet18.Load(folder, 32));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
