using System.Diagnostics;

namespace Microsoft.ML.SaPE2.AutoML;

public sealed partial class Sape2Experiment
{
    /// <summary>Trials within this many accuracy points of the majority class after the first rung are stopped as "at chance".</summary>
    private const double ChanceMargin = 0.01;

    /// <summary>
    /// The trainer options <paramref name="trial"/> trained with (its knobs, seed and epochs over the template of
    /// <see cref="SetTrainerOptions"/>), without the experiment's hooks: train them with
    /// <c>Fit(train, validation)</c> on the same data to reproduce it (Model Builder-style code generation prints them). For the
    /// trial whose model is the final fit (<see cref="Sape2TrialResult.FinalFit"/>), the final fit's: its epochs, no hold-back —
    /// <c>Fit(data)</c> on all the rows reproduces it.
    /// </summary>
    public Sape2ImageClassificationTrainer.Options TrainerOptions(Sape2TrialResult trial)
    {
        ArgumentNullException.ThrowIfNull(trial);
        return TrialOptions(trial.Parameters, trial.Seed, trial.FinalFit?.Epochs ?? trial.PlannedEpochs, default);
    }

    /// <summary>The trainer options of one trial: the template's, with the trial's knobs, seed, epochs and the experiment's hooks.</summary>
    private Sape2ImageClassificationTrainer.Options TrialOptions(Sape2TrialParameters p, int seed, int? plannedEpochs, CancellationToken token)
    {
        var o = trainerTemplate.Copy();
        (o.LabelColumnName, o.FeatureColumnName) = (labelColumn, featureColumn);
        (o.ValidationSet, o.ValidationSetFraction, o.CheckpointDirectory, o.ResumeFrom) = (null, null, null, null);
        (o.Seed, o.CancellationToken) = (seed, token);
        (o.TrainingTimeInSeconds, o.Progress, o.MetricsCallback) = (null, null, null);
        o.PositionEncoding = p.PositionEncoding;
        o.AbsolutePosition = p.AbsolutePosition;
        o.Sape2Mode = p.Sape2Mode;
        o.LearningRate = p.LearningRate;
        o.WeightDecay = p.WeightDecay;
        o.LabelSmoothing = p.LabelSmoothing;
        o.DropPathRate = p.DropPathRate;
        o.Epochs = plannedEpochs;
        o.WarmupEpochs = plannedEpochs is { } epochs ? p.WarmupFraction * epochs : null;
        o.Augmentation = p.Augmentation switch
        {
            Sape2AugmentationLevel.None => AugmentationOptions.None,
            Sape2AugmentationLevel.CropFlip => trainerTemplate.Augmentation,   // null: the trainer's automatic crop and flip
            Sape2AugmentationLevel.RandAugment => new AugmentationOptions { RandAugmentMagnitude = p.RandAugmentMagnitude, MixupAlpha = 0,
                CutmixAlpha = 0 },
            _ => new AugmentationOptions { RandAugmentMagnitude = p.RandAugmentMagnitude, MixProbability = p.MixProbability },
        };
        // On the pretrained backbone the token stride is where the network is cut (16 or 32), not a free knob; its rate is one instead.
        o.PatchSize = p.PatchSize > 0 && !onPretrainedBackbone ? p.PatchSize : trainerTemplate.PatchSize;
        o.BackboneLearningRateScale = onPretrainedBackbone ? p.BackboneLearningRateScale : trainerTemplate.BackboneLearningRateScale;
        o.Preset = p.Preset;
        o.EmaDecay = p.EmaDecay;
        return o;
    }

    private static double MetricOf(Sape2MulticlassMetric metric, double? accuracy, double? macroAccuracy, double? logLoss) => metric switch
    {
        Sape2MulticlassMetric.MacroAccuracy => macroAccuracy ?? double.NaN,
        Sape2MulticlassMetric.LogLoss => logLoss ?? double.NaN,
        _ => accuracy ?? double.NaN,
    };

    /// <summary>What tuners and ASHA minimise: log-loss as it is, accuracies negated; NaN (no score) is the worst.</summary>
    private static double LossOf(Sape2MulticlassMetric metric, double value) =>
        double.IsNaN(value) ? double.PositiveInfinity : metric == Sape2MulticlassMetric.LogLoss ? value : -value;

    /// <summary>One trial: trains with the trainer, watches its epochs for rungs, chance and divergence, and scores what it returns.</summary>
    private sealed class TrialRun(Sape2Experiment experiment, RunState state, Sape2TrialSettings settings, TrialStore store,
        DecodedImageCache cache, TimeSpan remaining, CancellationToken userCancellation)
    {
        private readonly SortedDictionary<int, double> rungMetrics = new();
        private CancellationTokenSource? stop;
        private string? pruneReason;
        private Exception? storeFailure;

        public (Sape2TrialResult Result, Sape2ImageClassificationTransformer? Model) Execute(IDataView train, IDataView validation)
        {
            var parameters = settings.Parameters!;
            using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(userCancellation);
            stop = cancellation;
            var options = experiment.TrialOptions(parameters, settings.Seed, state.Asha.PlannedEpochs, cancellation.Token);
            options.MetricsCallback = OnEpoch;
            // Until some trial has a model, the budget is the trainer's own time limit, which always returns one (an epoch cut short
            // is validated as it stands); afterwards the deadline cancels, and the trainer returns its best epoch so far.
            if (state.Best is null) options.TrainingTimeInSeconds = Math.Max(0.001, remaining.TotalSeconds);
            else cancellation.CancelAfter(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
            experiment.monitor?.ReportRunningTrial(settings);
            using var heartbeat = new Timer(_ => Beat(), null, experiment.HeartbeatInterval, experiment.HeartbeatInterval);
            ProcessMemory.ResetPeak();
            var clock = Stopwatch.StartNew();
            Sape2ImageClassificationTransformer model;
            try
            {
                model = new Sape2ImageClassificationTrainer(experiment.ml, options) { DecodedImages = cache }.Fit(train, validation);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                if (storeFailure is not null) throw storeFailure;
                string why = userCancellation.IsCancellationRequested ? "cancelled" : "the time budget ended";
                return (Result(parameters, Sape2TrialStatus.Cancelled, double.NaN, 0, clock, $"{why} before its first epoch did"), null);
            }
            catch (Exception e) when (e is not (OperationCanceledException or InvalidImageException))   // a bad image fails every trial: stop
            {
                experiment.monitor?.ReportFailTrial(settings, e);
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
            var metric = experiment.metric;
            var best = history.Where(h => h.ValidationAccuracy is not null).MaxBy(h => h.ValidationAccuracy) ?? history[^1];
            var last = history[^1];
            rungMetrics[last.Epoch] = MetricOf(metric, last.ValidationAccuracy, last.ValidationMacroAccuracy, last.ValidationLoss);
            double value = MetricOf(metric, best.ValidationAccuracy, best.ValidationMacroAccuracy, best.ValidationLoss);
            int planned = state.Asha.PlannedEpochs;
            string ended = userCancellation.IsCancellationRequested ? "cancelled" : "the time budget ended";
            var (status, reason) = pruneReason is not null ? (Sape2TrialStatus.Pruned, pruneReason)
                : model.TrainingCancelled ? (Sape2TrialStatus.Cancelled, $"{ended} at epoch {history.Count}")
                : history.Count < planned ? (Sape2TrialStatus.Completed, $"{history.Count} of {planned} epochs: the time budget or early stopping " +
                    "shortened it") : (Sape2TrialStatus.Completed, (string?)null);
            var result = Result(parameters, status, value, history.Count, clock, reason);
            if (status == Sape2TrialStatus.Pruned) experiment.monitor?.ReportPrunedTrial(result);
            else experiment.monitor?.ReportCompletedTrial(result);
            return (result, model);
        }

        /// <summary>At every epoch's end: the monitor, divergence, the ASHA rung rule and the chance check; a stop cancels the trainer, which
        /// returns its best epoch.</summary>
        private void OnEpoch(TrainingProgress p)
        {
            var metric = experiment.metric;
            double value = MetricOf(metric, p.ValidationAccuracy, p.ValidationMacroAccuracy, p.ValidationLoss);
            experiment.monitor?.ReportEpoch(settings, p);
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
                var recorded = store.RecordRung(settings.TrialId, p.Epoch, LossOf(metric, value));   // every worker's results at this rung
                if (!settings.NeverPrune && !asha.ContinueAmong(recorded, LossOf(metric, value)))
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
            Loss = LossOf(experiment.metric, metric),
            MetricPerRung = new Dictionary<int, double>(rungMetrics), EpochsTrained = epochs, PlannedEpochs = state.Asha.PlannedEpochs,
            Seconds = clock.Elapsed.TotalSeconds, PeakMemoryBytes = ProcessMemory.Bytes("VmHWM"), Reason = reason, Exception = exception,
            Device = experiment.trainerTemplate.Device, Worker = experiment.WorkerName,
        };
    }
}
