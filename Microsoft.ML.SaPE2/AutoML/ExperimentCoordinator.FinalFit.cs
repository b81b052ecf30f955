using System.Diagnostics;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>The final fit after the search (see <see cref="Sape2FinalFit"/>).</summary>
internal sealed partial class ExperimentCoordinator
{
    /// <summary>With a final fit, the search gets this share of the budget; the final fit what is left.</summary>
    private const double SearchShareBeforeFinalFit = 0.5;
    /// <summary>The final fit's schedule is at most this many times the trials' (longer ones were not measured).</summary>
    private const int FinalFitEpochsPerTrialEpoch = 3;
    /// <summary>The share of the remaining budget the final fit's epochs are planned to fill (the rest absorbs the estimate's error).</summary>
    private const double FinalFitBudgetUse = 0.9;

    /// <summary>The end of the search: half the budget when a final fit follows, else the whole budget.</summary>
    private TimeSpan SearchDeadline(TimeSpan deadline) =>
        settings.FinalFit && !settings.Shared ? deadline * SearchShareBeforeFinalFit : deadline;

    /// <summary>
    /// Trains <paramref name="best"/>'s configuration on <paramref name="data"/> for the epochs the <paramref name="remaining"/> budget
    /// fits, and makes it the returned model (the trial's own is disposed; it stays in the checkpoint folder). Does nothing when the
    /// schedule would be shorter than the trial's planned one; a final fit cancelled before its first epoch, or failing, leaves the trial's
    /// model in place.
    /// </summary>
    private void FitFinal(Sape2TrialResult best, ExperimentState state, IDataView data, long trialRows, DecodedImageCache cache, TimeSpan remaining,
        CancellationToken userCancellation, IChannel ch)
    {
        if (best.Model is null || state.SecondsPerEpoch is not { } perEpoch || userCancellation.IsCancellationRequested) return;
        long rows = DataViewImages.CountRows(data);
        double perEpochOnAll = perEpoch * rows / Math.Max(1, trialRows);
        int affordable = (int)Math.Floor(remaining.TotalSeconds * FinalFitBudgetUse / perEpochOnAll);
        int epochs = Math.Min(affordable, FinalFitEpochsPerTrialEpoch * best.PlannedEpochs);
        if (epochs < best.PlannedEpochs)
        {
            ch.Log($"SaPE² experiment: no final fit: the remaining {remaining.TotalSeconds:F0} s fit {affordable} epoch(s) on all {rows} rows, " +
                $"fewer than the {best.PlannedEpochs} trial {best.TrialId} was planned for; its own model is returned.");
            return;
        }
        ch.Log($"SaPE² experiment: final fit: trial {best.TrialId}'s configuration on all {rows} training rows for {epochs} epochs " +
            $"(about {perEpochOnAll:F1} s each; {remaining.TotalSeconds:F0} s of the budget left).");
        var options = settings.TrialOptions(best.Parameters, best.Seed, epochs, OnPretrainedBackbone, userCancellation);
        options.TrainingTimeInSeconds = Math.Max(1, remaining.TotalSeconds);
        var clock = Stopwatch.StartNew();
        Sape2ImageClassificationTransformer model;
        try
        {
            model = new Sape2ImageClassificationTrainer(ml, options) { DecodedImages = cache }.Fit(data);
        }
        catch (OperationCanceledException) when (userCancellation.IsCancellationRequested)
        {
            ch.Log("SaPE² experiment: the final fit was cancelled before its first epoch; the best trial's own model is returned.");
            return;
        }
        catch (Exception e) when (e is not (OperationCanceledException or InvalidImageException))
        {
            // The search's result stands: a final fit that fails (memory, a native error) costs only its own time.
            ch.Warn($"SaPE² experiment: the final fit failed ({e.Message}); the best trial's own model is returned.");
            return;
        }
        best.Model.Dispose();
        best.Model = model;
        best.FinalFit = new Sape2FinalFit(epochs, model.TrainingHistory.Count, rows, clock.Elapsed.TotalSeconds);
        ch.Log($"SaPE² experiment: final fit trained {model.TrainingHistory.Count} of {epochs} epochs in {clock.Elapsed.TotalSeconds:F0} s.");
    }
}
