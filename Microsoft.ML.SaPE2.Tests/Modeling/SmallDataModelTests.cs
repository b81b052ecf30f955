using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>The small-data parts of the model: convolutional tokenizer, sequence pooling, PyTorch-default initialisation.</summary>
[TestClass]
public sealed class SmallDataModelTests
{
    static VitConfig Compact(int height, int width, int stride = 4) =>
        VitConfig.FromPreset(VitPreset.Micro, imageSize: height, patchSize: stride, inChannels: 1, numClasses: 4) with
        {
            ImageWidth = width, Tokenizer = TokenizerKind.Convolutional, Pooling = PoolingKind.SequencePooling,
            Initialization = WeightInitialization.PyTorchDefault,
        };

    [TestMethod]
    [DataRow(28, 28, 4, 7, 7)]
    [DataRow(27, 27, 4, 7, 7)]      // odd: 27 → 14 → 7
    [DataRow(29, 29, 4, 8, 8)]      // 29 → 15 → 8
    [DataRow(28, 20, 4, 7, 5)]      // non-square
    [DataRow(33, 17, 8, 5, 3)]      // three stages: 33 → 17 → 9 → 5, 17 → 9 → 5 → 3
    [DataRow(5, 5, 2, 3, 3)]
    public void ConvolutionalTokenizerGridMatchesItsOutput(int height, int width, int stride, int gridHeight, int gridWidth)
    {
        using var scope = NewDisposeScope();
        var config = Compact(height, width, stride);
        Assert.AreEqual((gridHeight, gridWidth), (config.GridHeight, config.GridWidth), "VitConfig's grid");
        using var model = new VisionTransformer(config);
        var images = randn(2, 1, height, width);
        Assert.AreEqual(new PatchGrid(gridHeight, gridWidth), model.GridOf(images));
        var tokens = model.EmbedTokens(images, out var grid);
        CollectionAssert.AreEqual(new long[] { 2, gridHeight * gridWidth, config.EmbedDim }, tokens.shape, "tokens (B, N, C) from the stem");
        Assert.AreEqual(new PatchGrid(gridHeight, gridWidth), grid);
        CollectionAssert.AreEqual(new long[] { 2, 4 }, model.forward(images).shape);
    }

    [TestMethod]
    [DataRow(3)]
    [DataRow(6)]
    [DataRow(1)]
    public void ConvolutionalTokenizerNeedsAPowerOfTwoStride(int stride)
    {
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Compact(28, 28, stride).Validate());
        Assert.AreEqual(nameof(VitConfig.PatchSize), error.ParamName);
        StringAssert.Contains(error.Message, $"got {stride}");
        StringAssert.Contains(error.Message, "2, 4, 8, 16 or 32");
    }

    [TestMethod]
    public void UnknownEnumValuesNameTheSetting()
    {
        foreach (var (config, name) in new[]
        {
            (Compact(28, 28) with { Tokenizer = (TokenizerKind)9 }, nameof(VitConfig.Tokenizer)),
            (Compact(28, 28) with { Pooling = (PoolingKind)9 }, nameof(VitConfig.Pooling)),
            (Compact(28, 28) with { Initialization = (WeightInitialization)9 }, nameof(VitConfig.Initialization)),
        })
            Assert.AreEqual(name, Assert.ThrowsExactly<ArgumentOutOfRangeException>(config.Validate).ParamName);
    }

    [TestMethod]
    [DataRow(PoolingKind.SequencePooling)]
    [DataRow(PoolingKind.GlobalAverage)]
    public void PoolingOverTokensTrainsTheLastLayersSape2Tables(PoolingKind pooling)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(5);
        using var model = new VisionTransformer(Compact(16, 16) with { Pooling = pooling });
        nn.functional.cross_entropy(model.forward(randn(4, 1, 16, 16)), tensor(new long[] { 0, 1, 2, 3 })).backward();
        int last = model.Config.Depth - 1;
        var tables = model.named_parameters().Where(p => p.name.StartsWith($"blocks.{last}.attention.position.")).ToList();
        Assert.AreEqual(2, tables.Count, "E_x and E_y of the last layer");
        foreach (var (name, parameter) in tables)
            Assert.IsTrue(parameter.grad!.abs().sum().item<float>() > 0, $"{pooling}: '{name}' got no gradient.");
        using var cls = new VisionTransformer(Compact(16, 16) with { Pooling = PoolingKind.ClassToken });
        nn.functional.cross_entropy(cls.forward(randn(4, 1, 16, 16)), tensor(new long[] { 0, 1, 2, 3 })).backward();
        var clsTable = cls.named_parameters().First(p => p.name == $"blocks.{last}.attention.position.tableX").parameter;
        Assert.AreEqual(0f, clsTable.grad!.abs().sum().item<float>(), "With a CLS head the last layer's table is unreachable (the contrast).");
    }

    [TestMethod]
    public void OneImageScoresAsInABatch()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(8);
        using var model = new VisionTransformer(Compact(28, 28));
        model.eval();
        using var noGrad = no_grad();
        var images = randn(3, 1, 28, 28);
        var batched = model.forward(images);
        for (int i = 0; i < 3; i++)
            TensorAssert.AreClose(batched.narrow(0, i, 1), model.forward(images.narrow(0, i, 1)), 1e-5, $"image {i} alone");
    }

    [TestMethod]
    public void SequencePoolingIsASoftmaxWeightedMean()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(6);
        using var pooling = new SequencePooling(8);
        var tokens = randn(3, 5, 8);
        var score = (Linear)pooling.named_children().Single().module;
        var weights = score.forward(tokens).squeeze(-1).softmax(-1);                        // (B, T)
        var expected = (weights.unsqueeze(-1) * tokens).sum(dim: 1);                         // (B, C)
        TensorAssert.AreClose(expected, pooling.forward(tokens), 1e-6, "pooled tokens");
    }

    [TestMethod]
    public void InitialisationFollowsTheOption()
    {
        torch.manual_seed(7);
        using var pytorch = new VisionTransformer(Compact(16, 16));
        using var timm = new VisionTransformer(Compact(16, 16) with { Initialization = WeightInitialization.TruncatedNormal });
        double Std(VisionTransformer model) =>
            model.named_parameters().Single(p => p.name == "blocks.0.mlp.expand.weight").parameter.std().item<float>();
        // PyTorch's nn.Linear: Kaiming-uniform with a = √5, i.e. U(±1/√fan_in), std 1/√(3·fan_in); fan_in = 64.
        Assert.AreEqual(1 / Math.Sqrt(3 * 64), Std(pytorch), 0.005, "PyTorch-default std");
        // timm: trunc_normal_(std=.02), bounds ±2 absolute (±100σ), so std 0.02 — not 0.0176, as bounds of ±2σ would give.
        Assert.AreEqual(0.02, Std(timm), 0.001, "truncated-normal std");
        var positions = pytorch.named_parameters().Single(p => p.name == "blocks.0.attention.position.tableX").parameter;
        Assert.AreEqual(0.02, positions.std().item<float>(), 0.004, "SaPE² tables stay truncated-normal 0.02 (the spec) either way");
    }
}
