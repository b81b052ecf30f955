using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Interop.Onnx;
using Microsoft.ML.SaPE2.Modeling;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>
/// The ML.NET trainer on colour photos: the default call picks the ImageNet ResNet18 backbone, the model it returns carries the
/// backbone (saved, loaded in a fresh process, scored one by one as in a batch), a frozen backbone keeps ImageNet's weights and a
/// fine-tuned one moves; options that cannot work with it are refused up front, naming the option or file.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class PretrainedBackboneTests
{
    public TestContext TestContext { get; set; } = null!;
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-backbone-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    /// <summary>Three classes of colour images from 40 to 400 pixels a side: photos to the automatic recipe.</summary>
    private IDataView Photos(MLContext ml, int perClass) =>
        Preprocessed(ml, SyntheticFolder(folder, classes: 3, perClass, SkiaSharp.SKEncodedImageFormat.Jpeg, variedSizes: true), folder);

    [TestMethod]
    public void TheDefaultCallTrainsPhotosOnTheBackboneAndTheModelTravels()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.RawMessage); };
        var data = Photos(ml, perClass: 12);
        var trainer = ml.MulticlassClassification.Trainers.Sape2ImageClassification(new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = "Label", FeatureColumnName = "Image", Epochs = 4, Seed = 1,   // everything else automatic
        });
        var model = ml.Transforms.CopyColumns("Input", "Image").Append(trainer).Fit(data);
        var sape2 = model.LastTransformer;
        Assert.AreEqual(TokenizerKind.PretrainedBackbone, sape2.Architecture.Tokenizer, string.Join("\n", log));
        Assert.AreEqual(224, sape2.Architecture.ImageHeight);
        Assert.AreEqual(new PatchGrid(7, 7), new PatchGrid(sape2.Architecture.GridHeight, sape2.Architecture.GridWidth));
        Assert.IsTrue(log.Any(l => l.Contains("Tokenizer = PretrainedBackbone (automatic: colour photos")), "The choice is logged with its rule.");
        Assert.IsTrue(log.Any(l => l.StartsWith("SaPE² trainer: RefitOnAllRows: training again on all 36 rows for 4 epoch(s)")),
            "On the frozen backbone the held-back photos are trained on in a second run:\n" + string.Join("\n", log));
        Assert.AreEqual(4, sape2.TrainingHistory.Count);

        // Frozen: the backbone still holds ImageNet's weights.
        var (_, imagenet) = ImageNetResNet18.Load(null, 32);
        try
        {
            var state = sape2.Classifier.Model.Backbone!.state_dict();
            var firstConv = state.First(p => p.Key.EndsWith(".weight") && p.Value.dim() == 4).Value;
            Assert.IsTrue(imagenet.Values.Any(w => w.shape.SequenceEqual(firstConv.shape) && w.allclose(firstConv, 0, 0)),
                "The frozen backbone moved.");
        }
        finally
        {
            foreach (var w in imagenet.Values) w.Dispose();
        }

        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data));
        TestContext.WriteLine($"training-set accuracy {metrics.MicroAccuracy:P1}");
        Assert.IsTrue(metrics.MicroAccuracy >= 0.9, $"Three plainly different colour classes: {metrics.MicroAccuracy:P1} on the training images.");

        // The model carries its backbone: saved, loaded in a fresh process, the scores are the same bit for bit.
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, data.Schema, zip);
        string images = Path.Combine(folder, "score");
        Directory.CreateDirectory(images);
        foreach (var file in Directory.GetFiles(Path.Combine(folder, "class001")).Take(3))
            File.Copy(file, Path.Combine(images, Path.GetFileName(file)));
        string output = Path.Combine(folder, "scores.txt");
        var (exitCode, errors) = ChildProcess.Run("score", zip, images, output);
        Assert.AreEqual(0, exitCode, $"The child process failed: {errors}");
        var rows = Directory.GetFiles(images).Order(StringComparer.Ordinal)
            .Select(f => new ChildProcess.ScoredImage { Image = File.ReadAllBytes(f) }).ToList();
        var here = model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToList();
        CollectionAssert.AreEqual(here.Select(s => string.Join(" ", s.Select(v => v.ToString("R")))).ToArray(),
            File.ReadAllLines(output).Skip(1).ToArray(), "Scores after loading in a fresh process differ.");

        // A prediction engine scores one image as the batch did: to float rounding, as the CPU's convolution kernels differ by batch size.
        using var engine = ml.Model.CreatePredictionEngine<ChildProcess.ScoredImage, ScoreRow>(model);
        for (int i = 0; i < rows.Count; i++)
        {
            var one = engine.Predict(rows[i]).Score;
            double worst = one.Zip(here[i], (a, b) => Math.Abs(a - b)).Max();
            Assert.IsTrue(worst <= 1e-5, $"image {i}: the prediction engine differs from the batch by {worst:E2}");
        }
        model.Dispose();
    }

    public sealed class ScoreRow
    {
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void AFineTunedBackboneMovesAndAFrozenOneDoesNot()
    {
        var ml = new MLContext(seed: 1);
        var data = Photos(ml, perClass: 4);
        Tensor FirstConvolution(double scale)
        {
            using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(new Sape2ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label", FeatureColumnName = "Image", Tokenizer = TokenizerKind.PretrainedBackbone, ImageSize = 64,
                Epochs = 1, BatchSize = 4, BackboneLearningRateScale = scale, Seed = 2, ValidationSetFraction = 0,
            }).Fit(data);
            return model.Classifier.Model.Backbone!.state_dict().First(p => p.Key.EndsWith(".weight") && p.Value.dim() == 4).Value.clone();
        }
        using var frozen = FirstConvolution(0);
        using var tuned = FirstConvolution(0.1);
        var (_, imagenet) = ImageNetResNet18.Load(null, 32);
        try
        {
            var original = imagenet.Values.First(w => w.shape.SequenceEqual(frozen.shape) && w.allclose(frozen, 0, 0));
            double moved = (tuned - original).abs().max().item<float>();
            Assert.IsTrue(moved > 0, "BackboneLearningRateScale = 0.1 left the backbone as it was.");
        }
        finally
        {
            foreach (var w in imagenet.Values) w.Dispose();
        }
    }

    [TestMethod]
    public void OptionsThatCannotWorkWithTheBackboneAreRefusedUpFront()
    {
        var ml = new MLContext();
        var missing = Assert.ThrowsExactly<FileNotFoundException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(
            new Sape2ImageClassificationTrainer.Options { Tokenizer = TokenizerKind.PretrainedBackbone, BackboneFolder = folder }));
        StringAssert.Contains(missing.Message, folder);
        StringAssert.Contains(missing.Message, ImageNetResNet18.Package);
        var normalization = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(
            new Sape2ImageClassificationTrainer.Options { Tokenizer = TokenizerKind.PretrainedBackbone, Normalization = Normalization.Default(3) }));
        Assert.AreEqual("Normalization", normalization.ParamName);
        var stride = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(
            new Sape2ImageClassificationTrainer.Options { Tokenizer = TokenizerKind.PretrainedBackbone, PatchSize = 8 }));
        StringAssert.Contains(stride.Message, "PatchSize");
        var rate = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(
            new Sape2ImageClassificationTrainer.Options { BackboneLearningRateScale = 2 }));
        Assert.AreEqual("BackboneLearningRateScale", rate.ParamName);
    }
}
