// Issue 10.1: user code outside this library's namespaces needs these two usings and no more, as
// `using Microsoft.ML.Vision;` suffices for ML.NET's image classifier. This file must compile with only them.
using Microsoft.ML;
using Microsoft.ML.SaPE2;

namespace UserCode;

[TestClass]
public sealed class OneUsingTests
{
    [TestMethod]
    public void TheCatalogOptionsEnumsAndTransformerNeedOnlyTwoUsings()
    {
        var ml = new MLContext(seed: 1);
        var options = new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = "Label", FeatureColumnName = "Image", Preset = VitPreset.Micro, PositionEncoding = PositionEncodingKind.Sape2,
            Sape2Mode = Sape2Mode.Query, Tokenizer = TokenizerKind.Convolutional, Pooling = PoolingKind.SequencePooling,
            Initialization = WeightInitialization.PyTorchDefault, Augmentation = AugmentationOptions.None,
            Normalization = new Normalization(new[] { 0.5f }, new[] { 0.25f }), Channels = 1,
            MetricsCallback = (TrainingProgress p) => { },
        };
        Sape2ImageClassificationTrainer trainer = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options);
        Assert.IsNotNull(trainer);
        Assert.AreEqual("Microsoft.ML.SaPE2", typeof(Sape2ImageClassificationTransformer).Namespace);
        foreach (var type in new[] { typeof(Sape2ImageClassificationTrainer), typeof(VitPreset), typeof(PositionEncodingKind), typeof(Sape2Mode),
            typeof(TokenizerKind), typeof(PoolingKind), typeof(WeightInitialization), typeof(AugmentationOptions), typeof(Normalization),
            typeof(TrainingProgress), typeof(EpochMetrics) })
            Assert.AreEqual("Microsoft.ML.SaPE2", type.Namespace, type.Name);
    }
}

[TestClass]
public sealed class MLContextConformanceTests
{
    static IDataView Images(MLContext ml, int perClass) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadRawImageBytes("Image", Path.Combine(Microsoft.ML.SaPE2.Tests.RepositoryPaths.FashionMnistMini, "train"),
                "ImagePath"))
            .Fit(ml.Data.LoadFromEnumerable(Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData.FashionRows("train", perClass)))
            .Transform(ml.Data.LoadFromEnumerable(Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData.FashionRows("train", perClass)));

    /// <summary>MLContext.CancelExecution, internal to ML.NET 5.0.1 (its AutoML stops trials with it), so reached by reflection.</summary>
    static void CancelExecution(MLContext ml) => typeof(MLContext).GetMethod("CancelExecution",
        System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)!.Invoke(ml, null);

    [TestMethod]
    public void MLContextCancelExecutionAbortsFitWithinAStep()
    {
        var ml = new MLContext(seed: 1);
        var data = Images(ml, 100);
        var options = Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData.Quick(epochs: 3);
        int reportsAfterCancel = 0;
        bool cancelled = false;
        options.Progress = new Microsoft.ML.SaPE2.Training.SynchronousProgress(p =>
        {
            if (cancelled) reportsAfterCancel++;
            if (p.Epoch == 2 && !cancelled) { cancelled = true; CancelExecution(ml); }
        });
        Assert.ThrowsExactly<OperationCanceledException>(() => ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(data));
        Assert.IsTrue(reportsAfterCancel <= 1, $"{reportsAfterCancel} progress reports came after CancelExecution.");
    }

    [TestMethod]
    public void GpuDeviceIdAndFallbackToCpuAreHonouredAndOptionsDeviceWins()
    {
        // CUDA device 7 exists on no machine this runs on, so the test holds with or without a GPU.
        var strict = new MLContext(seed: 1) { GpuDeviceId = 7, FallbackToCpu = false };
        var options = Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData.Quick(epochs: 1);
        options.Device = "auto";
        var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            strict.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(Images(strict, 3)));
        StringAssert.Contains(e.Message, "MLContext.GpuDeviceId = 7");
        StringAssert.Contains(e.Message, "FallbackToCpu = false");

        var lenient = new MLContext(seed: 1) { GpuDeviceId = 7, FallbackToCpu = true };
        var log = new List<string>();
        lenient.Log += (_, m) => { lock (log) log.Add(m.RawMessage); };
        using (lenient.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(Images(lenient, 3))) { }
        Assert.IsTrue(log.Any(m => m.StartsWith("SaPE² trainer: Device = cpu (MLContext.GpuDeviceId = 7", StringComparison.Ordinal)),
            "The log must say the run fell back to the CPU, and why.");

        options.Device = "cpu";   // an explicit device wins over the context
        using (strict.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(Images(strict, 3))) { }
    }

    [TestMethod]
    public void FitWithAValidationViewScoresItEveryEpochInsteadOfHoldingBack()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, m) => { lock (log) log.Add(m.RawMessage); };
        var options = Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData.Quick(epochs: 2);
        using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(Images(ml, 6), Images(ml, 2));
        Assert.IsTrue(log.Any(m => m.StartsWith("SaPE² trainer: 60 training images, 20 validation images", StringComparison.Ordinal)),
            string.Join("\n", log.Where(m => m.StartsWith("SaPE²"))));
        Assert.IsFalse(log.Any(m => m.Contains("held back")), "Given validation data, nothing is held back.");
        Assert.IsTrue(model.TrainingHistory.All(h => h.ValidationAccuracy is not null));
    }
}
