using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.SaPE2.AutoML;
using Microsoft.ML.SaPE2.Data;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>An averaged-probability model of several networks: scored, saved, loaded and exported like any other; and the selection
/// that builds it in an experiment.</summary>
[TestClass]
public sealed class EnsembleTests
{

    [TestMethod]
    public void AnEnsembleAveragesItsNetworksAndSavesLoadsAndExportsAsOneModel()
    {
        var ml = new MLContext(seed: 1);
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(PixelRows("train", 8)));
        var train = keyed.Transform(ml.Data.LoadFromEnumerable(PixelRows("train", 8)));
        var test = keyed.Transform(ml.Data.LoadFromEnumerable(PixelRows("test", 3)));
        var options = Quick(feature: "Pixels", epochs: 1);
        var a = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(train);
        var otherSeed = Quick(feature: "Pixels", epochs: 1);
        otherSeed.Seed = 9;
        var b = ml.MulticlassClassification.Trainers.Sape2ImageClassification(otherSeed).Fit(train);
        var scoresA = a.Transform(test).GetColumn<float[]>("Score").ToArray();
        var scoresB = b.Transform(test).GetColumn<float[]>("Score").ToArray();
        using var ensemble = Sape2ImageClassificationTransformer.Averaging([(a, 3f), (b, 1f)]);
        CollectionAssert.AreEqual(new[] { 0.75f, 0.25f }, ensemble.EnsembleWeights.ToArray());
        var scored = ensemble.Transform(test);
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        var keys = scored.GetColumn<uint>("PredictedLabel").ToArray();
        for (int r = 0; r < scores.Length; r++)
        {
            for (int c = 0; c < scores[r].Length; c++)
                Assert.AreEqual(0.75f * scoresA[r][c] + 0.25f * scoresB[r][c], scores[r][c], 1e-5f, $"row {r}, class {c}");
            Assert.AreEqual((uint)Array.IndexOf(scores[r], scores[r].Max()) + 1, keys[r], $"row {r}: the key of the largest average");
        }
        Assert.IsTrue(scores.Zip(scoresA).Any(p => p.First.Zip(p.Second).Any(v => Math.Abs(v.First - v.Second) > 1e-4)),
            "the check itself: the two networks differ, so the average is not either one");

        using var engine = ml.Model.CreatePredictionEngine<PixelRow, ScoreRow>(ensemble, ignoreMissingColumns: true);
        var one = engine.Predict(PixelRows("test", 3)[0]);
        CollectionAssert.AreEqual(scores[0], one.Score, new Tolerance(1e-5f), "a prediction engine averages the same way");

        string folder = Path.Combine(Path.GetTempPath(), $"sape2-ensemble-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            string file = Path.Combine(folder, "model.zip");
            ml.Model.Save(ensemble, test.Schema, file);
            using (var loaded = (Sape2ImageClassificationTransformer)new MLContext().Model.Load(file, out _))
            {
                Assert.AreEqual(2, loaded.EnsembleMembers.Count);
                var again = loaded.Transform(test).GetColumn<float[]>("Score").ToArray();
                for (int r = 0; r < scores.Length; r++)
                    CollectionAssert.AreEqual(scores[r], again[r], new Tolerance(1e-6f), $"row {r} after loading");
            }

            using var session = new InferenceSession(ExportedOnnx(ensemble));
            var rows = PixelRows("test", 3);
            var pixels = new DenseTensor<float>(rows.SelectMany(r => r.Pixels).ToArray(), new[] { rows.Count, 1, 28, 28 });
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(Sape2Onnx.InputName, pixels) });
            var onnx = results.Single(r => r.Name == Sape2Onnx.ScoresName).AsTensor<float>().ToArray();
            double worst = scores.SelectMany(s => s).Zip(onnx, (x, y) => Math.Abs(x - y)).Max();
            Assert.IsTrue(worst <= 1e-4, $"the ONNX graph's average differs from the model's by up to {worst:E2}");

            using var converted = new MemoryStream();
            ml.Model.ConvertToOnnx(ensemble, test, converted);   // ML.NET's converter, through the transformer's ONNX hook
            using var mlnetSession = new InferenceSession(converted.ToArray());
            var labelsIn = new DenseTensor<string>(rows.Select(r => r.Label).ToArray(), new[] { rows.Count, 1 });
            using var mlnetResults = mlnetSession.Run(new[] { NamedOnnxValue.CreateFromTensor("Pixels",
                new DenseTensor<float>(rows.SelectMany(r => r.Pixels).ToArray(), new[] { rows.Count, 784 })),
                NamedOnnxValue.CreateFromTensor("Label", labelsIn) });
            var viaMLNet = mlnetResults.Single(r => r.Name == "Score.output").AsTensor<float>().ToArray();
            worst = scores.SelectMany(s => s).Zip(viaMLNet, (x, y) => Math.Abs(x - y)).Max();
            Assert.IsTrue(worst <= 1e-4, $"ConvertToOnnx's average differs from the model's by up to {worst:E2}");

            var refused = Assert.Throws<NotSupportedException>(() => ml.Model.SaveSafetensors(ensemble, Path.Combine(folder, "m.safetensors")));
            StringAssert.Contains(refused.Message, "ensemble of 2");
            Assert.IsFalse(File.Exists(Path.Combine(folder, "m.safetensors")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static byte[] ExportedOnnx(ITransformer model)
    {
        using var stream = new MemoryStream();
        Sape2Onnx.Export(model, stream);
        return stream.ToArray();
    }

    public sealed class ScoreRow
    {
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    sealed class Tolerance(float tolerance) : System.Collections.IComparer
    {
        public int Compare(object? x, object? y) => Math.Abs((float)x! - (float)y!) <= tolerance ? 0 : 1;
    }

    [TestMethod]
    public void SelectionAddsAModelThatCorrectsTheBestAndLeavesOutOneThatDoesNot()
    {
        // Three rows of two classes. The best model is right on rows 0 and 1 and unsure on row 2; "helper" is confidently right on row 2
        // and mildly wrong elsewhere; "copy" repeats the best model's mistake.
        int[] labels = [0, 1, 1];
        float[] best = [0.9f, 0.1f, 0.2f, 0.8f, 0.55f, 0.45f];
        float[] helper = [0.6f, 0.4f, 0.45f, 0.55f, 0.05f, 0.95f];
        float[] copy = [0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f];
        var (counts, metric) = EnsembleSelection.Select([best, helper, copy], labels, Sape2MulticlassMetric.MicroAccuracy, first: 0);
        Assert.AreEqual(1.0, metric, 1e-9, "best and helper averaged are right on all three rows");
        Assert.IsTrue(counts[0] >= 1 && counts[1] >= 1, $"counts [{string.Join(", ", counts)}]");
        Assert.AreEqual(0, counts[2], "the copy adds nothing");

        var (alone, aloneMetric) = EnsembleSelection.Select([best, copy], labels, Sape2MulticlassMetric.MicroAccuracy, first: 0);
        CollectionAssert.AreEqual(new[] { 1, 0 }, alone, "nothing improves the best: it stays alone");
        Assert.AreEqual(2 / 3.0, aloneMetric, 1e-9);
    }
}
