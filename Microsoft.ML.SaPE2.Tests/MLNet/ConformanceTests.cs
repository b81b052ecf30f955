using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Training;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>MLContext cancellation and device settings, validation data, and the output schema ML.NET tools read.</summary>
[TestClass]
public sealed class MLContextConformanceTests
{
    static IDataView Images(MLContext ml, int perClass) =>
        Preprocessed(ml, FashionRows("train", perClass), Path.Combine(RepositoryPaths.FashionMnistMini, "train"));

    /// <summary>MLContext.CancelExecution, internal to ML.NET 5.0.1 (its AutoML stops trials with it), so reached by reflection.</summary>
    static void CancelExecution(MLContext ml) => typeof(MLContext).GetMethod("CancelExecution",
        System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)!.Invoke(ml, null);

    [TestMethod]
    public void MLContextCancelExecutionAbortsFitWithinAStep()
    {
        var ml = new MLContext(seed: 1);
        var data = Images(ml, 100);
        var options = Quick(epochs: 3);
        int reportsAfterCancel = 0;
        bool cancelled = false;
        options.Progress = new SynchronousProgress(p =>
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
        var options = Quick(epochs: 1);
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
        var options = Quick(epochs: 2);
        using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(Images(ml, 6), Images(ml, 2));
        Assert.IsTrue(log.Any(m => m.StartsWith("SaPE² trainer: 60 training images, 20 validation images", StringComparison.Ordinal)),
            string.Join("\n", log.Where(m => m.StartsWith("SaPE²"))));
        Assert.IsFalse(log.Any(m => m.Contains("held back")), "Given validation data, nothing is held back.");
        Assert.IsTrue(model.TrainingHistory.All(h => h.ValidationAccuracy is not null));
    }
}

[TestClass]
public sealed class OutputSchemaConformanceTests
{
    public sealed class KeyedImage
    {
        public string ImagePath { get; set; } = "";
        [Microsoft.ML.Data.KeyType(2)] public uint Label { get; set; }
    }

    public sealed class WideKeyImage
    {
        public string ImagePath { get; set; } = "";
        [Microsoft.ML.Data.KeyType(2)] public ulong Label { get; set; }
    }

    public sealed class NumberedImage
    {
        public string ImagePath { get; set; } = "";
        public float Label { get; set; }
    }

    static SchemaShape ShapeOf(DataViewSchema schema) => (SchemaShape)typeof(SchemaShape).GetMethod("Create",
        System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic,
        new[] { typeof(DataViewSchema) })!.Invoke(null, new object[] { schema })!;

    static string Describe(SchemaShape.Column c) =>
        $"{c.Kind} {c.ItemType}{(c.IsKey ? " key" : "")} [{string.Join(", ", c.Annotations.OrderBy(a => a.Name).Select(a =>
            $"{a.Name}: {a.Kind} {a.ItemType}{(a.IsKey ? " key" : "")}"))}]";

    [TestMethod]
    public void TheEstimatorsShapeAndTheFittedSchemaAgreeForEveryKindOfLabel()
    {
        string folder = Directory.CreateTempSubdirectory("sape2-schema-").FullName;
        try
        {
            var rows = SyntheticFolder(folder, classes: 2, perClass: 4);
            var ml = new MLContext(seed: 1);
            var images = ml.Transforms.LoadRawImageBytes("Image", folder, "ImagePath");
            var text = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows))
                .Transform(ml.Data.LoadFromEnumerable(rows));
            var numbered = rows.Select(r => new NumberedImage { ImagePath = r.ImagePath, Label = r.Label == "class000" ? 3f : 7f }).ToList();
            var numbers = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(numbered))
                .Transform(ml.Data.LoadFromEnumerable(numbered));
            var keyed = ml.Data.LoadFromEnumerable(rows.Select(r =>
                new KeyedImage { ImagePath = r.ImagePath, Label = r.Label == "class000" ? 0u : 1u }));
            foreach (var (name, labelled) in new[] { ("text key values", text), ("numeric key values", numbers), ("no key values", keyed) })
            {
                var data = images.Fit(labelled).Transform(labelled);
                var options = Quick(epochs: 1).WithGrid(16, 4, 3);
                var trainer = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options);
                var declared = trainer.GetOutputSchema(ShapeOf(data.Schema));
                using var model = trainer.Fit(data);
                var actual = ShapeOf(model.Transform(data).Schema);
                foreach (var column in new[] { "Score", "PredictedLabel" })
                    Assert.AreEqual(Describe(declared.Single(c => c.Name == column)), Describe(actual.Single(c => c.Name == column)),
                        $"{column} with {name}: the estimator's shape and the fitted transformer's schema differ.");
                if (name == "text key values")
                    StringAssert.Contains(Describe(actual.Single(c => c.Name == "Score")), "TrainingLabelValues");
            }
            var wide = ml.Data.LoadFromEnumerable(rows.Select(r => new WideKeyImage { ImagePath = r.ImagePath, Label = 1 }));
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers
                .Sape2ImageClassification(Quick()).Fit(images.Fit(wide).Transform(wide)));
            StringAssert.Contains(e.Message, "label column 'Label': expected Key<UInt32>, got Key<UInt64>");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
