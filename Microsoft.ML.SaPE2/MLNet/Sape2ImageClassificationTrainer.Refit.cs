using Microsoft.ML.Runtime;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2;

/// <summary>The second run of <see cref="Options.RefitOnAllRows"/>.</summary>
public sealed partial class Sape2ImageClassificationTrainer
{
    /// <summary>
    /// Trains <paramref name="architecture"/> again on <paramref name="allRows"/> (the training rows and the held-back ones) for the
    /// epochs <paramref name="first"/> settled on, and returns that run in place of the first (whose classifier it disposes). Keeps
    /// <paramref name="first"/> when it was cancelled or cut by the time limit, or when the time limit cannot take a second run.
    /// </summary>
    private TrainingResult RefitOnAllRows(ImageDataset allRows, int firstRows, TrainingResult first, VitConfig architecture,
        TrainingOptions training, TimeSpan firstRun, TimeSpan elapsed, IProgress<TrainingProgress> progress, IChannel ch)
    {
        if (first.Cancelled || first.ShortenedByTimeLimit)
        {
            ch.Log("SaPE² trainer: RefitOnAllRows: no second run — the first " +
                (first.Cancelled ? "was cancelled." : "was shortened by TrainingTimeInSeconds."));
            return first;
        }
        // The epochs the first run settled on: its best when early stopping ended it, else its whole schedule (the last epoch of a
        // cosine schedule, not the epoch a few held-back images happened to favour).
        int epochs = first.StoppedEarly ? Math.Max(1, first.BestEpoch) : first.PlannedEpochs;
        TimeSpan? timeLimit = null;
        if (options.TrainingTimeInSeconds is { } seconds)
        {
            var left = TimeSpan.FromSeconds(seconds) - elapsed;
            var needed = firstRun * (allRows.Count / (double)firstRows);
            if (left < needed)
            {
                ch.Log($"SaPE² trainer: RefitOnAllRows: no second run — TrainingTimeInSeconds leaves {left.TotalSeconds:F0} s, and the first " +
                    $"run took {firstRun.TotalSeconds:F0} s on fewer rows.");
                return first;
            }
            timeLimit = left;
        }
        ch.Log($"SaPE² trainer: RefitOnAllRows: training again on all {allRows.Count} rows for {epochs} epoch(s); the validation figures " +
            "above are the first run's (the returned model learns from those rows).");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var refit = VisionTransformerTrainer.Fit(allRows, validation: null, architecture,
            training with { Epochs = epochs, TimeLimit = timeLimit, EarlyStoppingPatience = 0, CheckpointDirectory = null, ResumeFrom = null },
            progress, options.CancellationToken, beforeEachStep: () => MLNetInternals.ThrowIfCancelled(host));
        if (refit.Cancelled)
        {
            ch.Warn("SaPE² trainer: RefitOnAllRows: the second run was cancelled; the first run's model is returned.");
            refit.Classifier.Dispose();
            return first;
        }
        ch.Log($"SaPE² trainer: RefitOnAllRows: done after {refit.Classifier.History.Count} epoch(s) in {clock.Elapsed.TotalSeconds:F1} s.");
        first.Classifier.Dispose();
        return refit with { BestEpoch = refit.Classifier.History.Count, BestValidationAccuracy = first.BestValidationAccuracy };
    }
}
