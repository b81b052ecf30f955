using System.Diagnostics;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// Runs one trial (ML.NET AutoML's <c>ITrialRunner</c>): trains with the SaPE² trainer, watches its epochs for ASHA's rungs, chance and
/// divergence, keeps its heartbeat in the store, and scores what the trainer returns.
/// </summary>
internal sealed class TrialRunner(MLContext ml, ExperimentSettings experiment, ExperimentState state, Sape2TrialSettings settings,
    TrialStore store, DecodedImageCache cache, TimeSpan remaining, CancellationToken userCancellation)
{
    /// <summary>Trials within this many accuracy points of the majority class after the first rung are stopped as "at chance".</summary>
    private const double ChanceMargin = 0.01;

    private readonly SortedDictionary<int, double> rungMetrics = new();
    private CancellationTokenSource? stop;
    private string? pruneReason;
    private Exception? storeFailure;

    public (Sape2TrialResult Result, Sape2ImageClassificationTransformer? Model) Execute(IDataView train, IDataView validation)
    {
        var parameters = settings.Parameters!;
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(userCancellation);
        stop = cancellation;
        var options = experiment.TrialOptions(parameters, settings.Seed, state.Asha.PlannedEpochs, state.OnPretrainedBackbone,
            cancellation.Token);
        options.MetricsCallback = OnEpoch;
        // Until some trial has a model, the budget is the trainer's own time limit, which always returns one (an epoch cut short
        // is validated as it stands); afterwards the deadline cancels, and the trainer returns its best epoch so far.
        if (state.Best is null) options.TrainingTimeInSeconds = Math.Max(0.001, remaining.TotalSeconds);
        else cancellation.CancelAfter(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
        experiment.Monitor?.ReportRunningTrial(settings);
        using var heartbeat = new Timer(_ => Beat(), null, experiment.HeartbeatInterval, experiment.HeartbeatInterval);
        ProcessMemory.ResetPeak();
        var clock = Stopwatch.StartNew();
        Sape2ImageClassificationTransformer model;
        try
        {
            model = new Sape2ImageClassificationTrainer(ml, options) { DecodedImages = cache }.Fit(train, validation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            if (storeFailure is not null) throw storeFailure;
            string why = userCancellation.IsCancellationRequested ? "cancelled" : "the time budget ended";
            return (Result(parameters, Sape2TrialStatus.Cancelled, double.NaN, 0, clock, $"{why} before its first epoch did"), null);
        }
        catch (Exception e) when (e is not (OperationCanceledException or InvalidImageException))   // a bad image fails every trial: stop
        {
            experiment.Monitor?.ReportFailTrial(settings, e);
            return (Result(parameters, Sape2TrialStatus.Failed, double.NaN, 0, clock, e.Message, e), null);
        }
        if (storeFailure is not null)
        {
            model.Dispose();
            throw storeFailure;
        }
        return Scored(parameters, model, clock);
    }

    /// <summary>
    /// The running trial's heartbeat. When the store says the trial is another worker's now (this one was silent too long) the trial
    /// stops; when the store cannot be reached even after its retries, the trial stops and the experiment fails with that message.
    /// </summary>
    private void Beat()
    {
        try
        {
            if (!store.Heartbeat(settings.TrialId, experiment.WorkerName)) Stop("its heartbeat lapsed and another worker runs it again");
        }
        catch (ObjectDisposedException)
        {
            // A beat still in flight when the trial ended: nothing left to stop (a timer callback must never throw).
        }
        catch (Exception e)
        {
            storeFailure = e;
            try { stop!.Cancel(); } catch (ObjectDisposedException) { }
        }
    }

    private (Sape2TrialResult, Sape2ImageClassificationTransformer?) Scored(Sape2TrialParameters parameters,
        Sape2ImageClassificationTransformer model, Stopwatch clock)
    {
        var history = model.TrainingHistory;
        var best = history.Where(h => h.ValidationAccuracy is not null).MaxBy(h => h.ValidationAccuracy) ?? history[^1];
        var last = history[^1];
        rungMetrics[last.Epoch] = experiment.MetricOf(last.ValidationAccuracy, last.ValidationMacroAccuracy, last.ValidationLoss);
        double value = experiment.MetricOf(best.ValidationAccuracy, best.ValidationMacroAccuracy, best.ValidationLoss);
        int planned = state.Asha.PlannedEpochs;
        string ended = userCancellation.IsCancellationRequested ? "cancelled" : "the time budget ended";
        var (status, reason) = pruneReason is not null ? (Sape2TrialStatus.Pruned, pruneReason)
            : model.TrainingCancelled ? (Sape2TrialStatus.Cancelled, $"{ended} at epoch {history.Count}")
            : history.Count < planned ? (Sape2TrialStatus.Completed, $"{history.Count} of {planned} epochs: the time budget or early stopping " +
                "shortened it") : (Sape2TrialStatus.Completed, (string?)null);
        var result = Result(parameters, status, value, history.Count, clock, reason);
        if (status == Sape2TrialStatus.Pruned) experiment.Monitor?.ReportPrunedTrial(result);
        else experiment.Monitor?.ReportCompletedTrial(result);
        return (result, model);
    }

    /// <summary>At every epoch's end: the monitor, divergence, the ASHA rung rule and the chance check; a stop cancels the trainer, which
    /// returns its best epoch.</summary>
    private void OnEpoch(TrainingProgress p)
    {
        var metric = experiment.Metric;
        double value = experiment.MetricOf(p.ValidationAccuracy, p.ValidationMacroAccuracy, p.ValidationLoss);
        experiment.Monitor?.ReportEpoch(settings, p);
        store.RecordEpoch(settings.TrialId, p.Epoch, value, p.ValidationLoss);   // the learning curve a dashboard draws
        if (pruneReason is not null) return;
        if (p.ValidationLoss is not { } loss || !double.IsFinite(loss))
        {
            Stop($"diverged: validation loss {p.ValidationLoss} at epoch {p.Epoch}");
            return;
        }
        var asha = state.Asha;
        if (asha.Rungs.Contains(p.Epoch))
        {
            rungMetrics[p.Epoch] = value;
            var recorded = store.RecordRung(settings.TrialId, p.Epoch, experiment.LossOf(value));   // every worker's results at this rung
            if (!settings.NeverPrune && !asha.ContinueAmong(recorded, experiment.LossOf(value)))
                Stop($"rung {p.Epoch}: {metric} {value:F4} is outside the top 1/{asha.ReductionFactor} recorded there");
        }
        int afterWarmup = asha.Rungs.Count > 0 ? asha.Rungs[0] : 2;
        if (pruneReason is null && !settings.NeverPrune && p.Epoch >= afterWarmup && p.ValidationAccuracy <= state.ChanceAccuracy + ChanceMargin)
            Stop($"at chance: validation accuracy {p.ValidationAccuracy:P1} at epoch {p.Epoch}, majority class {state.ChanceAccuracy:P1}");
    }

    private void Stop(string reason)
    {
        pruneReason = reason;
        stop!.Cancel();
    }

    private Sape2TrialResult Result(Sape2TrialParameters parameters, Sape2TrialStatus status, double metric, int epochs, Stopwatch clock,
        string? reason, Exception? exception = null) => new()
    {
        TrialId = settings.TrialId, Parameters = parameters, Seed = settings.Seed, Status = status, Metric = metric,
        Loss = experiment.LossOf(metric),
        MetricPerRung = new Dictionary<int, double>(rungMetrics), EpochsTrained = epochs, PlannedEpochs = state.Asha.PlannedEpochs,
        Seconds = clock.Elapsed.TotalSeconds, PeakMemoryBytes = ProcessMemory.Bytes("VmHWM"), Reason = reason, Exception = exception,
        Device = experiment.TrainerTemplate.Device, Worker = experiment.WorkerName,
    };
}
