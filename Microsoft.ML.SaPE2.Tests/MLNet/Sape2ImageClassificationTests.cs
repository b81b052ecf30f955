using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

[TestClass]
public sealed class Sape2ImageClassificationTests
{
    public TestContext TestContext { get; set; } = null!;
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-mlnet-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    [TestMethod]
    public void EndToEndTrainEvaluateSaveAndLoadInAFreshProcess()
    {
        var ml = new MLContext(seed: 1);
        string trainFolder = Path.Combine(RepositoryPaths.FashionMnistMini, "train"),
            testFolder = Path.Combine(RepositoryPaths.FashionMnistMini, "test");
        var trainRows = FashionRows("train", 300);
        var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(trainRows));
        var train = Preprocessed(ml, trainRows, trainFolder, keys);
        var test = Preprocessed(ml, FashionRows("test", 20), testFolder, keys);

        var pipeline = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 6))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel"));
        var model = pipeline.Fit(train);
        var scored = model.Transform(test);
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        TestContext.WriteLine($"micro accuracy {metrics.MicroAccuracy:P1}, macro {metrics.MacroAccuracy:P1}, log-loss {metrics.LogLoss:F3}");
        Assert.IsTrue(metrics.MicroAccuracy > 0.55, $"Held-out accuracy {metrics.MicroAccuracy:P1} is not clearly above chance (10%).");

        var sape2 = ((IEnumerable<ITransformer>)model).OfType<Sape2ImageClassificationTransformer>().Single();
        Assert.AreEqual(10, sape2.ClassNames.Count);
        var scoreColumn = scored.Schema["Score"];
        Assert.AreEqual(10, ((VectorDataViewType)scoreColumn.Type).Size, "Score is a known-size vector, one slot per class.");
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        scoreColumn.GetSlotNames(ref slotNames);
        CollectionAssert.AreEqual(sape2.ClassNames.ToArray(), slotNames.DenseValues().Select(s => s.ToString()).ToArray(),
            "Score slot names are the class names in key order.");
        Assert.IsInstanceOfType<KeyDataViewType>(scored.Schema["PredictedLabel"].Type);

        // Save, then load in a fresh process with a fresh MLContext and compare every score bit for bit.
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, train.Schema, zip);
        var imageFiles = Path.Combine(folder, "images");
        Directory.CreateDirectory(imageFiles);
        foreach (var row in FashionRows("test", 3)) File.Copy(Path.Combine(testFolder, row.ImagePath),
            Path.Combine(imageFiles, Path.GetFileName(row.ImagePath)));
        string output = Path.Combine(folder, "scores.txt");
        var (exitCode, errors) = ChildProcess.Run("score", zip, imageFiles, output);
        Assert.AreEqual(0, exitCode, $"The child process failed: {errors}");
        var childLines = File.ReadAllLines(output);
        StringAssert.Contains(childLines[0], nameof(Sape2ImageClassificationTransformer), "The loaded chain exposes our own transformer type.");
        var rows = Directory.GetFiles(imageFiles).Order(StringComparer.Ordinal).Select(f =>
            new ChildProcess.ScoredImage { Image = File.ReadAllBytes(f) });
        var here = model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").Select(s =>
            string.Join(" ", s.Select(v => v.ToString("R")))).ToArray();
        CollectionAssert.AreEqual(here, childLines.Skip(1).ToArray(), "Scores after loading in a fresh process differ.");

        // Load in this process with a fresh context: Evaluate works and the transformer is ours.
        var fresh = new MLContext();
        var loaded = fresh.Model.Load(zip, out var loadedSchema);
        var loadedMetrics = fresh.MulticlassClassification.Evaluate(loaded.Transform(test));
        Assert.AreEqual(metrics.MicroAccuracy, loadedMetrics.MicroAccuracy, 1e-12, "Evaluate after load");
        var loadedSape2 = ((IEnumerable<ITransformer>)loaded).OfType<Sape2ImageClassificationTransformer>().Single();
        CollectionAssert.AreEqual(sape2.ClassNames.ToArray(), loadedSape2.ClassNames.ToArray());
        Assert.AreEqual(PositionEncodingKind.Sape2, loadedSape2.Architecture.PositionEncoding);
        Assert.AreEqual(6, loadedSape2.TrainingHistory.Count);
        ((IDisposable)loaded).Dispose();
    }

    [TestMethod]
    public void BFloat16TrainingGivesAFloat32ModelAndWarnsOnTheCpu()
    {
        // Precision = BFloat16 trains in bf16 mixed precision; the model it returns, saves and scores with is fp32.
        var ml = new MLContext(seed: 1);
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.RawMessage); };
        var data = Preprocessed(ml, FashionRows("train", 20), Path.Combine(RepositoryPaths.FashionMnistMini, "train"));
        var options = Quick(epochs: 1);
        options.Precision = TrainingPrecision.BFloat16;
        using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(data);
        Assert.IsTrue(warnings.Any(w => w.Contains("Precision = BFloat16 on the CPU")), $"No CPU warning: {string.Join(" | ", warnings)}");
        Assert.IsTrue(model.Classifier.Model.parameters().All(p => p.dtype == TorchSharp.torch.ScalarType.Float32), "A weight is not fp32.");
        Assert.IsTrue(double.IsFinite(model.TrainingHistory[0].TrainLoss), "The bf16 epoch's loss is not finite.");
        var scores = model.Transform(data).GetColumn<float[]>("Score").ToList();
        Assert.IsTrue(scores.All(s => s.All(float.IsFinite) && Math.Abs(s.Sum() - 1) < 1e-4), "Scores are not probabilities.");
    }

    [TestMethod]
    public void ACancelledFitSaysSoOrThrowsWhenNothingWasTrained()
    {
        var ml = new MLContext(seed: 1);
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.RawMessage); };
        var data = Preprocessed(ml, FashionRows("train", 100), Path.Combine(RepositoryPaths.FashionMnistMini, "train"));   // 15 steps an epoch

        using (var early = new CancellationTokenSource())
        {
            var options = Quick(epochs: 3);
            options.CancellationToken = early.Token;
            options.Progress = new SynchronousProgress(_ => early.Cancel());
            Assert.ThrowsExactly<OperationCanceledException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(data));
        }
        using var afterOne = new CancellationTokenSource();
        var later = Quick(epochs: 3);
        later.CancellationToken = afterOne.Token;
        later.MetricsCallback = _ => afterOne.Cancel();   // at the end of the first epoch
        using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(later).Fit(data);
        Assert.IsTrue(model.TrainingCancelled, "The transformer must record that its run was cancelled.");
        Assert.AreEqual(1, model.TrainingHistory.Count);
        Assert.IsTrue(warnings.Any(w => w.Contains("cancelled after 1 epoch(s)")), $"No warning logged: {string.Join(" | ", warnings)}");
        string zip = Path.Combine(folder, "cancelled.zip");
        ml.Model.Save(model, data.Schema, zip);
        using var loaded = (Sape2ImageClassificationTransformer)ml.Model.Load(zip, out _);
        Assert.IsTrue(loaded.TrainingCancelled, "model.zip keeps the mark.");
    }

    public sealed class FashionInput
    {
        public byte[] Image { get; set; } = Array.Empty<byte>();
    }

    public sealed class FashionOutput
    {
        public float[] Score { get; set; } = Array.Empty<float>();
        public string PredictedLabelValue { get; set; } = "";
    }

    [TestMethod]
    public void PredictionEnginesMatchTheBatchedTransformAndRunInParallel()
    {
        var ml = new MLContext(seed: 1);
        string trainFolder = Path.Combine(RepositoryPaths.FashionMnistMini, "train");
        var rows = FashionRows("train", 12);
        var data = Preprocessed(ml, rows, trainFolder);
        var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel")).Fit(data);
        var batched = model.Transform(data).GetColumn<float[]>("Score").ToArray();   // 120 rows: two batches of 64 and one partial
        var inputs = rows.Select(r => new FashionInput { Image = File.ReadAllBytes(Path.Combine(trainFolder, r.ImagePath)) }).ToArray();

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, thread =>
        {
            // ML.NET's prediction engines dispose the model they own; a shared model must not be owned by each engine.
            using var engine = ml.Model.CreatePredictionEngine<FashionInput,
                FashionOutput>(model, new PredictionEngineOptions { OwnsTransformer = false });
            for (int i = thread; i < inputs.Length; i += 8)
            {
                var single = engine.Predict(inputs[i]).Score;
                float largest = single.Zip(batched[i], (a, b) => Math.Abs(a - b)).Max();
                if (largest > 1e-5f) failures.Add($"row {i}: largest difference {largest}");
            }
        });
        Assert.IsTrue(failures.IsEmpty, $"Prediction engines disagree with the batched transform: {string.Join("; ", failures.Take(5))}");

        // An engine that owns the model disposes it (ML.NET's default); afterwards the model fails cleanly.
        ml.Model.CreatePredictionEngine<FashionInput, FashionOutput>(model).Dispose();
        var disposed = Assert.ThrowsExactly<ObjectDisposedException>(() => model.Transform(data).GetColumn<float[]>("Score").First());
        StringAssert.Contains(disposed.ObjectName, "Sape2ImageClassificationTransformer");
    }

    [TestMethod]
    public void ColumnErrorsNameTheColumnAndTypes()
    {
        var ml = new MLContext(seed: 1);
        var rows = new[] { new { Image = "not bytes", Label = "a", Bytes = new byte[] { 1 } } };
        var data = ml.Data.LoadFromEnumerable(rows);
        var keyed = ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label").Fit(data).Transform(data);

        var missing = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            ml.MulticlassClassification.Trainers.Sape2ImageClassification("LabelKey", "Photo").Fit(keyed));
        StringAssert.Contains(missing.Message, "Could not find image column 'Photo'");
        var wrongType = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            ml.MulticlassClassification.Trainers.Sape2ImageClassification("LabelKey", "Image").Fit(keyed));
        StringAssert.Contains(wrongType.Message, "Schema mismatch for image column 'Image'");
        StringAssert.Contains(wrongType.Message, "String");
        StringAssert.Contains(wrongType.Message, "VarVector<Byte>");
        var labelNotKey = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            ml.MulticlassClassification.Trainers.Sape2ImageClassification("Label", "Bytes").Fit(keyed));
        StringAssert.Contains(labelNotKey.Message, "Schema mismatch for label column 'Label'");
        StringAssert.Contains(labelNotKey.Message, "Key<UInt32>");
        var badOption = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick().WithPatch(5)));
        Assert.AreEqual("PatchSize", badOption.ParamName);
        StringAssert.Contains(badOption.Message, "got 5");
        var std = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Normalization(new[] { 0.5f }, new[] { 0f }));
        Assert.AreEqual("Std", std.ParamName, "A zero std is refused where the normalisation is made.");
        var rgb = Quick();   // one channel
        rgb.Normalization = Normalization.Default(3);
        var count = Assert.ThrowsExactly<ArgumentException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(rgb));
        StringAssert.Contains(count.Message, "needs 1 mean and std values; got 3 and 3");
    }

    [TestMethod]
    public void MLImageInputsTrainAndPredict()
    {
        var ml = new MLContext(seed: 1);
        var log = new System.Collections.Concurrent.ConcurrentBag<string>();
        ml.Log += (_, e) => log.Add(e.Message);
        var rows = SyntheticFolder(folder, classes: 3, perClass: 8);
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", folder, "ImagePath"))
            .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 8).WithGrid(16, 4, 3)));
        var model = pipeline.Fit(data);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data));
        Assert.IsTrue(metrics.MicroAccuracy > 0.6, $"training accuracy {metrics.MicroAccuracy:P0} on three easy classes");
        Assert.IsTrue(log.Any(m => m.Contains("Sape2ImageClassificationTrainer") && m.Contains("Epoch 8/8")),
            "mlContext.Log shows no per-epoch message from the Sape2ImageClassificationTrainer source.");
    }

    [TestMethod]
    [DataRow(2)]
    [DataRow(100)]
    public void HandlesTwoAndAHundredClasses(int classes)
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticFolder(folder, classes, perClass: 2);
        var data = Preprocessed(ml, rows, folder);
        var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1).WithGrid(16, 4, 3)).Fit(data);
        var scored = model.Transform(data);
        Assert.AreEqual(classes, ((VectorDataViewType)scored.Schema["Score"].Type).Size);
        Assert.AreEqual((ulong)classes, ((KeyDataViewType)scored.Schema["PredictedLabel"].Type).Count);
        var first = scored.GetColumn<float[]>("Score").First();
        Assert.AreEqual(1f, first.Sum(), 1e-4f, "Scores are probabilities.");
        model.Dispose();
    }

    [TestMethod]
    public void DefaultCallChoosesFromTheDataLogsWhyAndExplicitOptionsWin()
    {
        var ml = new MLContext(seed: 1);
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info) log.Enqueue(e.RawMessage); };
        string trainFolder = Path.Combine(RepositoryPaths.FashionMnistMini, "train");
        var data = Preprocessed(ml, FashionRows("train", 12), trainFolder);
        // Only the column names, plus two explicit options (a short run for the test): those must win.
        var options = new Sape2ImageClassificationTrainer.Options { LabelColumnName = "Label", FeatureColumnName = "Image", Epochs = 2,
            Device = "cpu" };
        using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(data);
        var c = model.Architecture;
        Assert.AreEqual((28, 28, 1), (c.ImageHeight, c.ImageWidth, c.InChannels), "size and channels from the grayscale 28×28 images");
        Assert.AreEqual((TokenizerKind.Convolutional, 4, PoolingKind.SequencePooling, WeightInitialization.PyTorchDefault),
            (c.Tokenizer, c.PatchSize, c.Pooling, c.Initialization));
        Assert.AreEqual(2, model.TrainingHistory.Count, "Epochs = 2 was set and must win over the automatic choice.");
        foreach (var option in new[] { "ImageSize = 28", "Channels = 1", "Tokenizer = Convolutional", "PatchSize = 4",
            "Pooling = SequencePooling", "Initialization = PyTorchDefault", "Preset = Micro", "BatchSize = 13", "LearningRate = 0.003",
                "Augmentation = crop" })
            Assert.IsTrue(log.Any(m => m.StartsWith($"SaPE² trainer: {option}") && m.Contains("(automatic: ")),
                $"The log does not explain the automatic {option}:\n{string.Join("\n", log)}");
        Assert.IsFalse(log.Any(m => m.StartsWith("SaPE² trainer: Epochs =")), "Epochs was set by the user; it must not be reported as automatic.");
        // No validation set: a stratified 10% is held back (110 images learn, so BatchSize 110 / 8 = 13) and picks the best epoch.
        Assert.IsTrue(log.Any(m => m.StartsWith("SaPE² trainer: ValidationSetFraction = 0.1: 10 of the 120 training images held back")),
            string.Join("\n", log));
        Assert.IsTrue(model.TrainingHistory.All(h => h.ValidationAccuracy is not null), "Every epoch is validated on the held-back images.");

        string zip = Path.Combine(folder, "auto.zip");
        ml.Model.Save(model, data.Schema, zip);
        using var loaded = (Sape2ImageClassificationTransformer)new MLContext().Model.Load(zip, out _);
        Assert.AreEqual(c, loaded.Architecture, "Tokenizer, pooling and initialisation are saved in model.zip and restored.");
        var expected = model.Transform(data).GetColumn<float[]>("Score").Take(5).ToList();
        var actual = loaded.Transform(data).GetColumn<float[]>("Score").Take(5).ToList();
        for (int i = 0; i < expected.Count; i++) CollectionAssert.AreEqual(expected[i], actual[i], $"scores of row {i} after a round trip");
    }

    [TestMethod]
    public void RefitOnAllRowsTrainsAgainOnEveryRowAfterTheHeldBackRun()
    {
        var ml = new MLContext(seed: 1);
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info) log.Enqueue(e.RawMessage); };
        var rows = FashionRows("train", 12);
        var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows));
        var data = Preprocessed(ml, rows, Path.Combine(RepositoryPaths.FashionMnistMini, "train"), keys);
        Sape2ImageClassificationTrainer.Options Options(bool? refit) { var o = Quick(epochs: 2); o.RefitOnAllRows = refit; return o; }

        using (var refitted = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Options(true)).Fit(data))
        {
            Assert.IsTrue(log.Any(m => m.StartsWith("SaPE² trainer: RefitOnAllRows: training again on all 120 rows for 2 epoch(s)")),
                string.Join("\n", log));
            Assert.AreEqual(2, refitted.TrainingHistory.Count, "the second run's epochs: the first run's schedule");
            Assert.IsTrue(refitted.TrainingHistory.All(h => h.ValidationAccuracy is null),
                "The returned model is the second run's, which validates on nothing (it learned from the held-back rows).");
        }
        log.Clear();
        using (var plain = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Options(null)).Fit(data))
        {
            Assert.IsFalse(log.Any(m => m.Contains("RefitOnAllRows")), "Automatic: off when training from scratch.");
            Assert.IsTrue(plain.TrainingHistory.All(h => h.ValidationAccuracy is not null));
        }
        log.Clear();
        var given = Options(true);
        given.ValidationSet = Preprocessed(ml, FashionRows("test", 2), Path.Combine(RepositoryPaths.FashionMnistMini, "test"), keys);
        using (var validated = ml.MulticlassClassification.Trainers.Sape2ImageClassification(given).Fit(data))
            Assert.IsFalse(log.Any(m => m.Contains("RefitOnAllRows")), "With a ValidationSet nothing was held back: nothing to refit on.");
    }

    [TestMethod]
    public void NewOptionsAreValidatedNamingThem()
    {
        var ml = new MLContext();
        Sape2ImageClassificationTrainer.Options With(Action<Sape2ImageClassificationTrainer.Options> set) { var o = Quick(); set(o); return o; }
        foreach (var (options, name) in new (Sape2ImageClassificationTrainer.Options, string)[]
        {
            (With(o => o.TrainingTimeInSeconds = double.NaN), "TrainingTimeInSeconds"),
            (With(o => o.TrainingTimeInSeconds = -5), "TrainingTimeInSeconds"),
            (With(o => { o.Tokenizer = TokenizerKind.Convolutional; o.PatchSize = 7; }), "PatchSize"),
            (With(o => o.Tokenizer = (TokenizerKind)5), "Tokenizer"),
            (With(o => o.Pooling = (PoolingKind)5), "Pooling"),
            (With(o => o.Initialization = (WeightInitialization)5), "Initialization"),
            (With(o => o.ImageSize = 0), "ImageSize"),
            (With(o => o.Channels = 2), "Channels"),
            (With(o => { o.EarlyStoppingPatience = 2; o.ValidationSetFraction = null; }), "EarlyStoppingPatience"),   // nothing to validate on
            (With(o => o.ValidationSetFraction = 1.5), "ValidationSetFraction"),
            (With(o => o.ValidationSetFraction = double.NaN), "ValidationSetFraction"),
            // NaN slipped through range checks written as "x < 0"; every floating-point option is checked.
            (With(o => o.WarmupEpochs = double.NaN), "WarmupEpochs"),
            (With(o => o.GradientClipNorm = double.NaN), "GradientClipNorm"),
            (With(o => o.WeightDecay = double.NaN), "WeightDecay"),
            (With(o => o.LabelSmoothing = double.NaN), "LabelSmoothing"),
            (With(o => o.EmaDecay = double.NaN), "EmaDecay"),
            (With(o => o.LearningRate = double.PositiveInfinity), "LearningRate"),
            (With(o => o.Augmentation = AugmentationOptions.None with { MixupAlpha = double.NaN }), "MixupAlpha"),
        })
        {
            var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
                ml.MulticlassClassification.Trainers.Sape2ImageClassification(options));
            Assert.AreEqual(name, error.ParamName, error.Message);
        }
    }

    [TestMethod]
    public void ModelFilesFromBeforeTheSmallDataOptionsStillLoad()
    {
        // TestData/model-b7d47da.zip was saved by the library at commit b7d47da (patch tokenizer, CLS token, no
        // Tokenizer/Initialization fields in its metadata) with TestData/model-b7d47da.Program.cs.txt, which also
        // wrote the scores it gave for three images.
        string data = Path.Combine(RepositoryPaths.Root, "Microsoft.ML.SaPE2.Tests", "TestData");
        var ml = new MLContext();
        var model = ml.Model.Load(Path.Combine(data, "model-b7d47da.zip"), out _);
        using var owner = (IDisposable)model;
        var sape2 = ((IEnumerable<ITransformer>)model).OfType<Sape2ImageClassificationTransformer>().Single();
        Assert.AreEqual((TokenizerKind.Patch, PoolingKind.ClassToken, WeightInitialization.TruncatedNormal),
            (sape2.Architecture.Tokenizer, sape2.Architecture.Pooling, sape2.Architecture.Initialization));
        var images = File.ReadAllLines(Path.Combine(data, "model-b7d47da.images.txt"));
        var rows = images.Select(i =>
            new ImagePathRow { ImagePath = Path.Combine(RepositoryPaths.FashionMnistMini, i), Label = Path.GetFileName(Path.GetDirectoryName(i))! });
        var scores = model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToList();
        var expected = File.ReadAllLines(Path.Combine(data, "model-b7d47da.scores.txt"))
            .Select(l => l.Split(' ').Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToList();
        for (int i = 0; i < expected.Count; i++)
            for (int k = 0; k < expected[i].Length; k++)
                Assert.AreEqual(expected[i][k], scores[i][k], 1e-5f, $"image {images[i]}, class {k}");
    }

    public sealed class NumberRow
    {
        public string ImagePath { get; set; } = "";
        public float Label { get; set; }
    }

    public sealed class NumberPrediction
    {
        public float PredictedNumber { get; set; }
    }

    [TestMethod]
    public void NumericLabelsRoundTripThroughSaveAndLoad()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticFolder(folder, classes: 3, perClass: 4).Select(r =>
            new NumberRow { ImagePath = r.ImagePath, Label = 10f * int.Parse(r.Label[5..]) + 7 }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadRawImageBytes("Image", folder, "ImagePath"))
            .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1).WithGrid(16, 4, 3)))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedNumber", "PredictedLabel"));
        var model = pipeline.Fit(data);
        string zip = Path.Combine(folder, "numbers.zip");
        ml.Model.Save(model, data.Schema, zip);
        var loaded = new MLContext().Model.Load(zip, out _);
        var predicted = loaded.Transform(data).GetColumn<float>("PredictedNumber").ToArray();
        Assert.IsTrue(predicted.All(p => p is 7f or 17f or 27f),
            $"Predicted labels must be the original numbers; got {string.Join(", ", predicted.Distinct())}.");
        var sape2 = ((IEnumerable<ITransformer>)loaded).OfType<Sape2ImageClassificationTransformer>().Single();
        CollectionAssert.AreEqual(new[] { "7", "17", "27" }, sape2.ClassNames.ToArray());
    }
}

internal static class OptionsTestExtensions
{
    public static Sape2ImageClassificationTrainer.Options WithPatch(this Sape2ImageClassificationTrainer.Options o,
        int patch) { o.PatchSize = patch; return o; }
    public static Sape2ImageClassificationTrainer.Options WithGrid(this Sape2ImageClassificationTrainer.Options o, int imageSize,
        int patch, int channels)
    {
        o.ImageSize = imageSize; o.PatchSize = patch; o.Channels = channels;
        return o;
    }
}
