using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

[TestClass]
public sealed class VisionTransformerTests
{
    static VitConfig Micro(PositionEncodingKind kind, bool absolute = true, PoolingKind pooling = PoolingKind.ClassToken) =>
        VitConfig.FromPreset(VitPreset.Micro, imageSize: 16, patchSize: 4, inChannels: 3, numClasses: 5)
            with { PositionEncoding = kind, AbsolutePosition = absolute, Pooling = pooling };

    public static IEnumerable<object[]> EveryEncoding()
    {
        foreach (var pooling in Enum.GetValues<PoolingKind>())
        {
            foreach (var kind in Enum.GetValues<PositionEncodingKind>())
                yield return new object[] { kind, false, pooling };
            foreach (var kind in new[] { PositionEncodingKind.RopeAxial, PositionEncodingKind.RopeMixed, PositionEncodingKind.Cope,
                PositionEncodingKind.Sape2 })
                yield return new object[] { kind, true, pooling };
        }
    }

    [TestMethod]
    public void InspectReturnsEveryLayerOnceAndRestoresTrainingMode()
    {
        foreach (var kind in new[] { PositionEncodingKind.Sape2, PositionEncodingKind.Absolute })
        {
            var config = VitConfig.FromPreset(VitPreset.Micro, 16, 4, 3, 5) with { PositionEncoding = kind };
            using var model = new VisionTransformer(config);
            model.train();
            using var scope = torch.NewDisposeScope();
            var images = torch.randn(2, 3, 16, 16);
            var layers = model.Inspect(images, out var grid);
            Assert.IsTrue(model.training, "Inspect must leave a model in training mode as it found it.");
            Assert.AreEqual(config.Depth, layers.Count);
            TensorAssert.AreClose(torch.ones(2, config.NumHeads, 16 + config.PrefixTokens), layers[0].Weights.sum(-1), 1e-5, "softmax rows");
            Assert.AreEqual(kind == PositionEncodingKind.Sape2, layers[0].Sape2Bias is not null, $"{kind}: SaPE² bias present only for SaPE²");
            if (layers[0].Sape2Bias is { } bias) CollectionAssert.AreEqual(new long[] { 2, config.NumHeads, 16, 16 }, bias.shape);
            foreach (var layer in layers) { layer.Weights.Dispose(); layer.Sape2Bias?.Dispose(); }
        }
    }

    [TestMethod]
    [DynamicData(nameof(EveryEncoding))]
    public void EveryParameterLearns(PositionEncodingKind kind, bool absolute, PoolingKind pooling)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(2);
        using var model = new VisionTransformer(Micro(kind, absolute, pooling) with { DropPathRate = 0.1, Dropout = 0.1 });
        model.train();
        var logits = model.forward(randn(4, 3, 16, 16));
        CollectionAssert.AreEqual(new long[] { 4, 5 }, logits.shape);
        TensorAssert.AllFinite(logits, $"{kind} logits");
        // A loss that touches every logit; CoPE's zero table still gets a gradient through q·e.
        nn.functional.cross_entropy(logits, tensor(new long[] { 0, 1, 2, 3 })).backward();
        foreach (var (name, parameter) in model.named_parameters())
        {
            Assert.IsNotNull(parameter.grad, $"{kind}: parameter '{name}' received no gradient.");
            TensorAssert.AllFinite(parameter.grad!, $"{kind}: gradient of '{name}'");
            // With a CLS head, only the CLS row of the last attention reaches the loss, and CoPE and SaPE² put no
            // position term in that row (the spec's CLS decision), so the last layer's tables cannot learn.
            bool unreachable = pooling == PoolingKind.ClassToken && kind is PositionEncodingKind.Cope or PositionEncodingKind.Sape2
                && name.StartsWith($"blocks.{model.Config.Depth - 1}.attention.position.");
            // Sequence pooling's weights are a softmax over tokens of score(x) + b: the same b for every token cancels, so
            // its gradient is zero up to rounding (one initialisation in a few gives exactly 0).
            bool shiftInvariant = name == "sequencePooling.score.bias";
            float magnitude = parameter.grad!.abs().sum().item<float>();
            if (unreachable)
                Assert.AreEqual(0f, magnitude, $"{kind}: '{name}' should be unreachable from the CLS head.");
            else if (shiftInvariant)
                Assert.IsTrue(magnitude < 1e-6f, $"{kind}: '{name}' has gradient {magnitude}; the softmax should cancel it.");
            else
                Assert.IsTrue(magnitude > 0, $"{kind}: gradient of '{name}' is all zero.");
        }
    }

    [TestMethod]
    public void EncodingsOwnTheirParametersPerLayer()
    {
        using var sape2 = new VisionTransformer(Micro(PositionEncodingKind.Sape2));
        var names = sape2.named_parameters().Select(p => p.name).ToList();
        Assert.AreEqual(4, names.Count(n => n.EndsWith("tableX")), "one E_x per attention layer");
        Assert.AreEqual(4, names.Count(n => n.EndsWith("tableY")), "one E_y per attention layer");
        Assert.AreEqual(1, names.Count(n => n.EndsWith(".table") && n.StartsWith("tokenPosition")), "one APE table");
        using var none = new VisionTransformer(Micro(PositionEncodingKind.None));
        Assert.IsFalse(none.named_parameters().Any(p => p.name.StartsWith("tokenPosition")), "None must add no position parameters.");
    }

    [TestMethod]
    [DataRow(PositionEncodingKind.Absolute)]
    [DataRow(PositionEncodingKind.Sincos2D)]
    [DataRow(PositionEncodingKind.RopeAxial)]
    [DataRow(PositionEncodingKind.RopeMixed)]
    [DataRow(PositionEncodingKind.Cope)]
    [DataRow(PositionEncodingKind.Sape2)]
    public void RunsAtOtherResolutions(PositionEncodingKind kind)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        var config = VitConfig.FromPreset(VitPreset.Micro, imageSize: 32, patchSize: 4, numClasses: 3) with { PositionEncoding = kind };
        using var model = new VisionTransformer(config);
        model.eval();
        using var noGrad = no_grad();
        foreach (var (height, width) in new[] { (32, 32), (40, 40), (48, 48), (64, 64), (32, 48), (44, 28) })
        {
            var logits = model.forward(randn(2, 3, height, width));
            CollectionAssert.AreEqual(new long[] { 2, 3 }, logits.shape, $"{kind} at {height}×{width}");
            TensorAssert.AllFinite(logits, $"{kind} logits at {height}×{width}");
        }
    }

    [TestMethod]
    public void NonSquareModelAndGlobalPoolingWork()
    {
        using var scope = NewDisposeScope();
        var config = Micro(PositionEncodingKind.Sape2, pooling: PoolingKind.GlobalAverage) with { ImageHeight = 12, ImageWidth = 20, InChannels = 1 };
        using var model = new VisionTransformer(config);
        Assert.AreEqual(new PatchGrid(3, 5), model.GridOf(zeros(1, 1, 12, 20)));
        var logits = model.forward(randn(2, 1, 12, 20));
        CollectionAssert.AreEqual(new long[] { 2, 5 }, logits.shape);
    }

    [TestMethod]
    public void WeightsRoundTripThroughAStreamExactly()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(4);
        var config = Micro(PositionEncodingKind.Sape2);
        using var original = new VisionTransformer(config);
        using var stream = new MemoryStream();
        original.save(stream);
        torch.manual_seed(99);   // a different initialisation, then overwritten by the loaded weights
        using var restored = new VisionTransformer(config);
        restored.load(new MemoryStream(stream.ToArray()));
        original.eval(); restored.eval();
        var images = randn(3, 3, 16, 16);
        using var noGrad = no_grad();
        var expected = original.forward(images);
        Assert.IsTrue(expected.eq(restored.forward(images)).all().item<bool>(), "Outputs after a save/load round trip differ.");
    }

    [TestMethod]
    public void BadInputsAreRejectedWithClearMessages()
    {
        using var scope = NewDisposeScope();
        using var model = new VisionTransformer(Micro(PositionEncodingKind.Sape2));
        var channels = Assert.ThrowsExactly<ArgumentException>(() => model.forward(randn(1, 1, 16, 16)));
        StringAssert.Contains(channels.Message, "(batch, 3, height, width)");
        var size = Assert.ThrowsExactly<ArgumentException>(() => model.forward(randn(1, 3, 18, 16)));
        StringAssert.Contains(size.Message, "18×16");
    }

    [TestMethod]
    public void InvalidConfigurationsNameTheSetting()
    {
        var patch = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new VitConfig { PatchSize = 5 }.Validate());
        Assert.AreEqual(nameof(VitConfig.PatchSize), patch.ParamName);
        StringAssert.Contains(patch.Message, "got 5");
        var heads = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new VitConfig { NumHeads = 5 }.Validate());
        Assert.AreEqual(nameof(VitConfig.NumHeads), heads.ParamName);
        var rope = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new VitConfig { EmbedDim = 60, NumHeads = 6,
            PositionEncoding = PositionEncodingKind.RopeAxial }.Validate());
        StringAssert.Contains(rope.Message, "divisible by 4");
        var channels = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new VitConfig { InChannels = 2 }.Validate());
        Assert.AreEqual(nameof(VitConfig.InChannels), channels.ParamName);
        var drop = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new VitConfig { DropPathRate = 1.0 }.Validate());
        StringAssert.Contains(drop.Message, "[0, 1)");
    }

    [TestMethod]
    [DataRow(VitPreset.Micro, 64, 4, 2)]
    [DataRow(VitPreset.Tiny, 192, 12, 3)]
    [DataRow(VitPreset.Small, 384, 12, 6)]
    public void PresetsHaveTheirSizes(VitPreset preset, int dim, int depth, int heads)
    {
        var config = VitConfig.FromPreset(preset);
        Assert.AreEqual((dim, depth, heads), (config.EmbedDim, config.Depth, config.NumHeads));
    }
}
