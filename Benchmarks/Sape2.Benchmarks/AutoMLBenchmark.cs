using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.AutoML;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;

namespace Sape2.Benchmarks;

/// <summary>
/// `automl`: a default experiment (nothing set but the dataset, the columns and the budget) against the default trainer
/// given the same budget as its TrainingTimeInSeconds, on the same images, in the same process, one after the other.
/// Both hold 10% of train/ back for validation and are scored on test/.
/// </summary>
internal static class AutoMLBenchmark
{
    public static void Run(string dataRoot, uint seconds, int seed, bool finalFit, bool ensemble, TextWriter report)
    {
        var ml = new MLContext(seed: seed);
        var trainRows = ml.Data.LoadFromEnumerable(FolderRow.Read(Path.Combine(dataRoot, "train")));
        var testRows = ml.Data.LoadFromEnumerable(FolderRow.Read(Path.Combine(dataRoot, "test")));
        var prepare = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.Transforms.LoadRawImageBytes("Image", null, "ImagePath"))
            .Fit(trainRows);
        var train = prepare.Transform(trainRows);
        var test = prepare.Transform(testRows);
        report.WriteLine($"Data: `{Path.GetFileName(dataRoot)}`, {train.GetRowCount()} training / {test.GetRowCount()} test images; budget " +
            $"{seconds} s each; MLContext seed {seed}.");
        report.WriteLine();
        report.WriteLine("| run | trials | completed / pruned / cancelled / failed | best trial | validation accuracy | held-out accuracy | " +
            "macro accuracy | wall time |");
        report.WriteLine("|---|---|---|---|---|---|---|---|");
        report.Flush();

        var clock = Stopwatch.StartNew();
        using (var single = ml.MulticlassClassification.Trainers.Sape2ImageClassification(new Sape2ImageClassificationTrainer.Options
            { LabelColumnName = "Label", FeatureColumnName = "Image", TrainingTimeInSeconds = seconds }).Fit(train))
        {
            double wall = clock.Elapsed.TotalSeconds;
            var metrics = ml.MulticlassClassification.Evaluate(single.Transform(test));
            var history = single.TrainingHistory;
            // After RefitOnAllRows the returned model's epochs validate on nothing (it learned from the held-back rows).
            string validation = history.Any(h => h.ValidationAccuracy is not null)
                ? history.Max(h => h.ValidationAccuracy ?? 0).ToString("P1") : "— (refit on all rows)";
            report.WriteLine($"| default trainer, `TrainingTimeInSeconds = {seconds}` | 1 | {history.Count} epochs | default | {validation} | " +
                $"{metrics.MicroAccuracy:P1} | {metrics.MacroAccuracy:P1} | {wall:F0} s |");
            report.Flush();
        }

        clock.Restart();
        // A checkpoint folder keeps the best trial's own model (best-model.zip), so that a final fit can be compared with it on the test set.
        string checkpoint = Directory.CreateTempSubdirectory("sape2-automl-").FullName;
        var experiment = ml.Sape2Auto().CreateExperiment().SetDataset(train).SetColumns("Label", "Image").SetTrainingTimeInSeconds(seconds)
            .SetFinalFit(finalFit).SetEnsemble(ensemble).SetCheckpoint(checkpoint);
        var best = experiment.RunAsync().GetAwaiter().GetResult();
        double experimentWall = clock.Elapsed.TotalSeconds;
        var trials = experiment.Trials;
        int Count(Sape2TrialStatus status) => trials.Count(t => t.Status == status);
        var scored = ml.MulticlassClassification.Evaluate(best.Model!.Transform(test));
        var p = best.Parameters;
        report.WriteLine($"| experiment, `SetTrainingTimeInSeconds({seconds})` | {trials.Count} | {Count(Sape2TrialStatus.Completed)} / " +
            $"{Count(Sape2TrialStatus.Pruned)} / {Count(Sape2TrialStatus.Cancelled)} / {Count(Sape2TrialStatus.Failed)} | {best.TrialId}: " +
            $"{Encoding(p)}, lr {p.LearningRate:G2}, wd {p.WeightDecay:G2}, {p.Augmentation}, patch " +
            $"{(p.PatchSize == 0 ? "auto" : p.PatchSize)}, {best.EpochsTrained} epochs | {best.ValidationMetrics!.MicroAccuracy:P1} | " +
            $"{scored.MicroAccuracy:P1} | {scored.MacroAccuracy:P1} | {experimentWall:F0} s |");
        if (best.Ensemble is { } chosen)
        {
            // The first member alone (the final fit, or the best trial's own model): what the ensemble adds to it on the test set.
            var first = best.Model.WithClassifier(best.Model.Classifier);   // shares the member's network: not disposed here
            var firstScored = ml.MulticlassClassification.Evaluate(first.Transform(test));
            report.WriteLine($"| … of which its first member alone ({(best.FinalFit is null ? "the trial's own model" : "the final fit")}) | | | " +
                $"{best.TrialId} | | {firstScored.MicroAccuracy:P1} | {firstScored.MacroAccuracy:P1} | |");
            report.WriteLine();
            report.WriteLine($"Ensemble: trials {string.Join(", ", chosen.TrialIds)}, weights " +
                $"{string.Join(", ", chosen.Weights.Select(w => w.ToString("F2")))}; " +
                $"validation accuracy of the trial models' average {chosen.ValidationMetric:P1} (the rows it was selected on).");
        }
        if (best.FinalFit is { } final)
        {
            var own = ml.Model.LoadSape2Model(Path.Combine(checkpoint, "best-model.zip"), out _);
            var ownScored = ml.MulticlassClassification.Evaluate(own.Transform(test));
            report.WriteLine($"| … of which the best trial's own model (before the final fit) | | | {best.TrialId} | " +
                $"{best.ValidationMetrics!.MicroAccuracy:P1} | {ownScored.MicroAccuracy:P1} | {ownScored.MacroAccuracy:P1} | |");
            report.WriteLine();
            report.WriteLine($"Final fit: trial {best.TrialId}'s configuration on all {final.TrainingRows} training rows, {final.EpochsTrained} of " +
                $"{final.Epochs} epochs, {final.Seconds:F0} s.");
            ((IDisposable)own).Dispose();
        }
        Directory.Delete(checkpoint, recursive: true);
        report.WriteLine();
        report.WriteLine("Trials of the experiment:");
        report.WriteLine();
        report.WriteLine("| trial | status | encoding | lr | wd | augmentation | patch | EMA | epochs | validation metric | seconds | reason |");
        report.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var t in trials)
            report.WriteLine($"| {t.TrialId} | {t.Status} | {Encoding(t.Parameters)} | " +
                $"{t.Parameters.LearningRate:G2} | {t.Parameters.WeightDecay:G2} | {t.Parameters.Augmentation} | {t.Parameters.PatchSize} | " +
                $"{t.Parameters.EmaDecay:G3} | {t.EpochsTrained} | {t.Metric:P1} | {t.Seconds:F0} | {t.Reason} |");
        best.Model.Dispose();
    }

    /// <summary>The encoding, with "+APE" where the model adds the absolute embedding to it (the model's own rule).</summary>
    private static string Encoding(Sape2TrialParameters p) =>
        p.PositionEncoding + (p.PositionEncoding != PositionEncodingKind.Absolute && PositionEncodingFactory.UsesAbsoluteEmbedding(
            new VitConfig { PositionEncoding = p.PositionEncoding, AbsolutePosition = p.AbsolutePosition }) ? "+APE" : "");
}
