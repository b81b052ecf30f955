using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.Tests.Training;

[TestClass]
public sealed class AutoRecipeTests
{
    static ImageSurvey Survey(int width, int height, bool gray) =>
        ImageSurvey.Of(Enumerable.Repeat(new ImageShape(width, height, gray), 5).ToArray());

    [TestMethod]
    [DataRow(28, 28, true, false, 28, 1)]       // Fashion-MNIST, MNIST
    [DataRow(32, 32, false, false, 32, 3)]      // CIFAR
    [DataRow(500, 375, false, false, 32, 3)]    // photos on a CPU: capped
    [DataRow(500, 375, false, true, 64, 3)]     // photos on a GPU
    [DataRow(8, 8, true, false, 16, 1)]         // tiny images: at least 16
    public void FormatFollowsTheImages(int width, int height, bool gray, bool cuda, int side, int channels)
    {
        var (size, chosenChannels, choices) = AutoRecipe.ChooseFormat(Survey(width, height, gray), cuda);
        Assert.AreEqual((side, channels), (size, chosenChannels));
        CollectionAssert.AreEquivalent(new[] { "ImageSize", "Channels" }, choices.Select(c => c.Option.ToString()).ToArray());
        Assert.IsTrue(choices.All(c => c.Rule.Length > 10), "Every choice says why.");
    }

    [TestMethod]
    public void EveryAutomaticOptionIsKnownToTheTrainerAsSetOrUnset()
    {
        var unset = new Sape2ImageClassificationTrainer.Options();
        var set = new Sape2ImageClassificationTrainer.Options
        {
            ImageSize = 32, Channels = 1, Tokenizer = TokenizerKind.Patch, PatchSize = 4, Pooling = PoolingKind.ClassToken,
            Initialization = WeightInitialization.TruncatedNormal, Preset = VitPreset.Micro, Epochs = 3, BatchSize = 8, LearningRate = 1e-3,
            WarmupEpochs = 1, LabelSmoothing = 0, Augmentation = AugmentationOptions.None, BackboneLearningRateScale = 0,
            KeepAspectByCenterCrop = false, RefitOnAllRows = false,
        };
        foreach (var option in Enum.GetValues<RecipeOption>())
        {
            Assert.IsFalse(Sape2ImageClassificationTrainer.IsSet(unset, option), $"{option} is unset by default");
            Assert.IsTrue(Sape2ImageClassificationTrainer.IsSet(set, option), $"{option} set is seen as set");
        }
    }

    [TestMethod]
    public void SurveyTakesTheMedianAndNeedsEveryImageGray()
    {
        var shapes = new[] { new ImageShape(10, 40, true), new ImageShape(30, 20, true), new ImageShape(500, 30, false) };
        var survey = ImageSurvey.Of(shapes);
        Assert.AreEqual((30, 30, false), (survey.MedianWidth, survey.MedianHeight, survey.Grayscale));
        Assert.ThrowsExactly<InvalidOperationException>(() => ImageSurvey.Of(Array.Empty<ImageShape>()));
    }

    [TestMethod]
    [DataRow(28, 4)]
    [DataRow(32, 4)]
    [DataRow(16, 2)]
    [DataRow(33, 8)]
    [DataRow(64, 8)]
    public void TokenStrideGivesAtMostEightTokensASide(int side, int stride)
    {
        var recipe = AutoRecipe.Choose(3000, side, side, 1, cuda: false);
        Assert.AreEqual(stride, recipe.PatchSize);
        var config = VitConfig.FromPreset(recipe.Preset, side, recipe.PatchSize, 1) with { Tokenizer = recipe.Tokenizer };
        config.Validate();
        Assert.IsTrue(config.GridHeight <= AutoRecipe.MaxGridSide && config.GridHeight > AutoRecipe.MaxGridSide / 2, $"grid {config.GridHeight}");
    }

    [TestMethod]
    public void BudgetAndSizeFollowTheDataAndDevice()
    {
        var cpu = AutoRecipe.Choose(3000, 28, 28, 1, cuda: false);
        Assert.AreEqual((VitPreset.Micro, 17, 64), (cpu.Preset, cpu.Epochs, cpu.BatchSize), "3,000 images on a CPU");
        Assert.AreEqual((TokenizerKind.Convolutional, PoolingKind.SequencePooling, WeightInitialization.PyTorchDefault),
            (cpu.Tokenizer, cpu.Pooling, cpu.Initialization));
        Assert.AreEqual(0, cpu.Augmentation.RandAugmentOps + cpu.Augmentation.MixupAlpha + cpu.Augmentation.CutmixAlpha, "no heavy augmentation");
        Assert.AreEqual(2, cpu.Augmentation.RandomCropPadding);
        var few = AutoRecipe.Choose(200, 32, 32, 3, cuda: false);
        Assert.AreEqual((100, 25), (few.Epochs, few.BatchSize), "200 photos: capped epochs, an eighth of the images per batch");
        var many = AutoRecipe.Choose(60_000, 28, 28, 1, cuda: false);
        Assert.AreEqual(5, many.Epochs, "a large set on a CPU: at least 5 epochs");
        var gpu = AutoRecipe.Choose(50_000, 32, 32, 3, cuda: true);
        Assert.AreEqual((VitPreset.Tiny, 40, 128), (gpu.Preset, gpu.Epochs, gpu.BatchSize), "CIFAR-sized on a GPU");
        var options = new[] { "Tokenizer", "PatchSize", "Pooling", "Initialization", "Preset", "Epochs", "BatchSize", "LearningRate",
            "WarmupEpochs", "LabelSmoothing", "Augmentation" };
        CollectionAssert.AreEquivalent(options, cpu.Choices.Select(c => c.Option.ToString()).ToArray(),
            "Every automatic option is listed with its rule.");
        new TrainingOptions { Epochs = cpu.Epochs, BatchSize = cpu.BatchSize, LearningRate = cpu.LearningRate,
            Augmentation = cpu.Augmentation }.Validate();
    }
}
