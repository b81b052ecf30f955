using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.Training;

/// <summary>Sizes that would exhaust memory are refused up front, naming the options, never by a native abort.</summary>
[TestClass]
public sealed class MemoryEstimateTests
{
    [TestMethod]
    public void ParameterCountMatchesTheBuiltModel()
    {
        var configs = new[]
        {
            VitConfig.FromPreset(VitPreset.Micro, 28, 7, 1, 10),
            VitConfig.FromPreset(VitPreset.Micro, 28, 4, 1, 10) with
                { Tokenizer = TokenizerKind.Convolutional, Pooling = PoolingKind.SequencePooling },
            VitConfig.FromPreset(VitPreset.Tiny, 32, 4, 3, 100) with { PositionEncoding = PositionEncodingKind.Cope },
            VitConfig.FromPreset(VitPreset.Micro, 32, 4, 3, 10) with { PositionEncoding = PositionEncodingKind.RopeMixed, AbsolutePosition = false },
            VitConfig.FromPreset(VitPreset.Micro, 64, 8, 3, 5) with
                { PositionEncoding = PositionEncodingKind.Absolute, Pooling = PoolingKind.GlobalAverage },
        };
        foreach (var config in configs)
        {
            using var model = new VisionTransformer(config);
            long actual = model.parameters().Sum(p => p.numel());
            long counted = MemoryEstimate.ParameterCount(config);
            Assert.IsTrue(Math.Abs(counted - actual) <= actual / 100,
                $"{config.PositionEncoding}/{config.Tokenizer}/{config.Pooling}: counted {counted:N0} parameters, the model has {actual:N0}.");
        }
    }

    [TestMethod]
    public void ThePretrainedBackboneIsCountedFrozenOrTrained()
    {
        var graph = Microsoft.ML.SaPE2.Interop.Onnx.BackboneFiles.ImageNetResNet18Graph(null, 32);
        var config = VitConfig.FromPreset(VitPreset.Micro, 224, 32, 3, 2) with { Tokenizer = TokenizerKind.PretrainedBackbone, Backbone = graph };
        using var model = new VisionTransformer(config);
        long actual = model.parameters().Sum(p => p.numel()) + model.buffers().Sum(b => b.numel());   // the backbone's statistics count too
        long counted = MemoryEstimate.ParameterCount(config);
        Assert.IsTrue(Math.Abs(counted - actual) <= actual / 100, $"counted {counted:N0} values, the model has {actual:N0}.");
        var frozen = MemoryEstimate.ForTraining(config, 32, 1000, ema: false, backboneTrained: false, featureViews: 4);
        var trained = MemoryEstimate.ForTraining(config, 32, 1000, ema: false, backboneTrained: true, featureViews: 4);
        Assert.IsTrue(trained.ParameterBytes > 3 * frozen.ParameterBytes, "A fine-tuned backbone needs gradients and AdamW moments.");
        Assert.IsTrue(trained.ActivationBytes > 20 * frozen.ActivationBytes, "A fine-tuned backbone's feature maps are kept for the backward.");
        Assert.AreEqual(1000L * 224 * 224 * 3 + 1000L * 4 * 512 * 49 * 4, frozen.DataBytes, "decoded images and four cached views of 512×7×7");
    }

    [TestMethod]
    [DataRow(4000, 4, "1,000,000 tokens", "Raise PatchSize or lower ImageSize", DisplayName = "too many tokens")]
    [DataRow(100000, 32, "100000×100000 pixels", "ImageSize", DisplayName = "an image side no pixel buffer can hold")]
    public void SizesThatCannotFitAreRefusedWhenTheTrainerIsCreated(int imageSize, int patchSize, string what, string advice)
    {
        var ml = new MLContext(seed: 1);
        var options = new Sape2ImageClassificationTrainer.Options { FeatureColumnName = "Image", ImageSize = imageSize, PatchSize = patchSize };
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(options));
        StringAssert.Contains(e.Message, what);
        StringAssert.Contains(e.Message, advice);
    }

    [TestMethod]
    public void ABatchThatCannotFitIsRefusedBeforeTheImagesAreDecoded()
    {
        var ml = new MLContext(seed: 1);
        var keyed = Preprocessed(ml, FashionRows("train", 3), Path.Combine(RepositoryPaths.FashionMnistMini, "train"));
        var options = Quick(epochs: 1);
        (options.Preset, options.ImageSize, options.PatchSize, options.BatchSize) = (VitPreset.Small, 512, 8, 4096);
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsExactly<InsufficientMemoryException>(() =>
            ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(keyed));
        StringAssert.Contains(e.Message, "batch of 4096 (BatchSize)");
        StringAssert.Contains(e.Message, "64×64 tokens");
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(20), $"The refusal took {clock.Elapsed}; it should come before any work.");
    }

    [TestMethod]
    public void TheEngineRefusesTheSameWay()
    {
        var format = new ImageFormat { Height = 512, Width = 512, Channels = 3 };
        var data = new ImageDataset(format, new byte[2 * format.PixelCount], new[] { 0, 1 }, new[] { "a", "b" });
        var architecture = VitConfig.FromPreset(VitPreset.Small, 512, 8);
        var e = Assert.ThrowsExactly<InsufficientMemoryException>(() =>
            VisionTransformerTrainer.Fit(data, null, architecture, new TrainingOptions { BatchSize = 4096, Device = "cpu" }));
        StringAssert.Contains(e.Message, "free on the cpu");
    }

    [TestMethod]
    public void TheEstimateGrowsWithTheBatchAndTheTokens()
    {
        var small = VitConfig.FromPreset(VitPreset.Micro, 32, 4);
        var big = VitConfig.FromPreset(VitPreset.Micro, 64, 4);
        Assert.IsTrue(MemoryEstimate.ForTraining(small, 64, 0, false).ActivationBytes
            == 2 * MemoryEstimate.ForTraining(small, 32, 0, false).ActivationBytes);
        Assert.IsTrue(MemoryEstimate.ActivationFloats(big) > 8 * MemoryEstimate.ActivationFloats(small),
            "Four times the tokens should cost far more than four times the memory with SaPE² (its pairwise tensors).");
        Assert.AreEqual(1000L * 32 * 32 * 3, MemoryEstimate.ForTraining(small, 64, 1000, false).DataBytes);
    }
}
