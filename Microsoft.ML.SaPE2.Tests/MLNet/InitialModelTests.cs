using Microsoft.ML;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>Retraining from a saved model (Options.InitialModel): its weights carry over, with head rows matched by class name.</summary>
[TestClass]
[DoNotParallelize]
public sealed class InitialModelTests
{
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-initial-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    [TestMethod]
    public void HeadRowsFollowTheClassNames()
    {
        var config = VitConfig.FromPreset(VitPreset.Micro, 28, 7, 1, 3);
        using var trained = new VisionTransformer(config);
        var format = new Microsoft.ML.SaPE2.Data.ImageFormat { Height = 28, Width = 28, Channels = 1 };
        using var initial = new ImageClassifier(new VisionTransformer(config), format,
            Normalization.Default(1), new[] { "cat", "dog", "fox" }, Array.Empty<EpochMetrics>());
        using var model = new VisionTransformer(config with { NumClasses = 3 });
        var fresh = model.state_dict()["head.weight"].clone();
        InitialWeights.Apply(model, initial, new[] { "fox", "cow", "cat" });
        var old = initial.Model.state_dict();
        var now = model.state_dict();
        Assert.IsTrue(now["head.weight"][0].allclose(old["head.weight"][2], 0, 0), "fox keeps its row");
        Assert.IsTrue(now["head.weight"][2].allclose(old["head.weight"][0], 0, 0), "cat keeps its row");
        Assert.IsTrue(now["head.weight"][1].allclose(fresh[1], 0, 0), "cow, a new class, keeps the fresh initialisation");
        Assert.IsTrue(now["head.bias"][0].allclose(old["head.bias"][2], 0, 0));
        Assert.IsTrue(now["blocks.1.mlp.expand.weight"].allclose(old["blocks.1.mlp.expand.weight"], 0, 0), "every other weight is copied");
        using var other = new VisionTransformer(config with { EmbedDim = 32, NumHeads = 2 });
        Assert.ThrowsExactly<InvalidOperationException>(() => InitialWeights.Apply(other, initial, new[] { "cat" }));
    }

    [TestMethod]
    public void RetrainingStartsFromTheSavedModel()
    {
        var ml = new MLContext(seed: 1);
        string trainFolder = Path.Combine(RepositoryPaths.FashionMnistMini, "train");
        string testFolder = Path.Combine(RepositoryPaths.FashionMnistMini, "test");
        var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(FashionRows("train", 100)));
        var train = Preprocessed(ml, FashionRows("train", 100), trainFolder, keys);
        var test = Preprocessed(ml, FashionRows("test", 20), testFolder, keys);
        using var first = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 5)).Fit(train);
        double trained = ml.MulticlassClassification.Evaluate(first.Transform(test)).MicroAccuracy;
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(first, train.Schema, zip);

        // One epoch at a negligible rate: a run that starts from the saved model scores as it did, one from scratch near chance.
        double OneStill(string? initial)
        {
            var options = Quick(epochs: 1);
            options.LearningRate = 1e-5;   // the schedule's floor
            options.InitialModel = initial;
            options.ValidationSetFraction = 0;
            using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(train);
            return ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy;
        }
        double continued = OneStill(zip), scratch = OneStill(null);
        Assert.IsTrue(trained > 0.4, $"The first model learned little ({trained:P1}); the comparison would prove little.");
        Assert.AreEqual(trained, continued, 0.03, "Retraining from InitialModel starts where the saved model was.");
        Assert.IsTrue(scratch < trained - 0.2, $"From scratch {scratch:P1} against {trained:P1}: the initial model made no difference.");

        var missing = Assert.ThrowsExactly<FileNotFoundException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(
            new Sape2ImageClassificationTrainer.Options { InitialModel = Path.Combine(folder, "absent.zip") }));
        StringAssert.Contains(missing.Message, "InitialModel");
    }
}
