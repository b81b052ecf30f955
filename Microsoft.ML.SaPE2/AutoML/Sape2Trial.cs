using Microsoft.ML.Data;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>How a trial ended.</summary>
public enum Sape2TrialStatus
{
    /// <summary>Training now.</summary>
    Running,
    /// <summary>Trained all its planned epochs (or stopped early by the trainer's own early stopping).</summary>
    Completed,
    /// <summary>Stopped at a rung by the scheduler, or because it sat at chance; its model is the best of the epochs it trained.</summary>
    Pruned,
    /// <summary>Threw (the exception is recorded); diverged trials end here too.</summary>
    Failed,
    /// <summary>The budget or the user's cancellation ended it before its first epoch did; nothing to score.</summary>
    Cancelled,
}

/// <summary>What a tuner and a monitor know of a trial before it runs.</summary>
public sealed class Sape2TrialSettings
{
    /// <summary>The trial's number, from 0 (the default) up.</summary>
    public int TrialId { get; init; }
    /// <summary>The experiment's search space.</summary>
    public required Sape2SearchSpace SearchSpace { get; init; }
    /// <summary>The seed of this trial's training, derived from the experiment's seed and <see cref="TrialId"/>.</summary>
    public int Seed { get; init; }
    /// <summary>The parameters the trial runs with (set once proposed).</summary>
    public Sape2TrialParameters? Parameters { get; internal set; }
    /// <summary>True when the trial is in the bracket that never prunes.</summary>
    public bool NeverPrune { get; init; }
}

/// <summary>One trial's outcome, as recorded in the experiment's trial store.</summary>
public sealed class Sape2TrialResult
{
    /// <summary>The trial's number.</summary>
    public int TrialId { get; init; }
    /// <summary>The parameters it ran with.</summary>
    public required Sape2TrialParameters Parameters { get; init; }
    /// <summary>The seed it trained with (derived from the experiment's seed and <see cref="TrialId"/>).</summary>
    public int Seed { get; init; }
    /// <summary>How it ended.</summary>
    public Sape2TrialStatus Status { get; init; }
    /// <summary>The experiment's metric on the validation set (accuracy, macro accuracy or log-loss), of the model the trial returned; NaN
    /// when it returned none.</summary>
    public double Metric { get; init; } = double.NaN;
    /// <summary>What tuners minimise: the metric, negated when higher is better; +∞ for a trial with no model.</summary>
    public double Loss { get; init; } = double.PositiveInfinity;
    /// <summary>The metric at each rung epoch the trial reached (its last epoch included).</summary>
    public IReadOnlyDictionary<int, double> MetricPerRung { get; init; } = new Dictionary<int, double>();
    /// <summary>Epochs trained.</summary>
    public int EpochsTrained { get; init; }
    /// <summary>Epochs the trial was planned for (its cosine schedule's length).</summary>
    public int PlannedEpochs { get; init; }
    /// <summary>Wall-clock seconds, images included.</summary>
    public double Seconds { get; init; }
    /// <summary>Peak resident memory of the process during the trial, in bytes (Linux; 0 elsewhere).</summary>
    public long PeakMemoryBytes { get; init; }
    /// <summary>Why the trial was pruned, failed or cancelled.</summary>
    public string? Reason { get; init; }
    /// <summary>The device it trained on, as the trainer options named it ("cpu", "cuda:1", "auto").</summary>
    public string Device { get; init; } = "";
    /// <summary>The worker that ran it (machine and process, and the device when one process runs several workers).</summary>
    public string Worker { get; init; } = "";
    /// <summary>The exception of a failed trial (only in the run that saw it; a resumed experiment has <see cref="Reason"/>).</summary>
    public Exception? Exception { get; init; }
    /// <summary>ML.NET's metrics on the validation set, of the trial <c>RunAsync</c> returns; null on the others.</summary>
    public MulticlassClassificationMetrics? ValidationMetrics { get; internal set; }
    /// <summary>
    /// The fitted model: set on the best trial only. The experiment disposes every other trial's model as soon as it is
    /// scored or beaten, so TorchSharp's native memory does not grow with the number of trials.
    /// </summary>
    public Sape2ImageClassificationTransformer? Model { get; internal set; }
    /// <summary>
    /// Set on the trial <c>RunAsync</c> returned when its <see cref="Model"/> is the experiment's final fit (this trial's configuration
    /// trained again on all the training rows, for a longer schedule; <see cref="Sape2Experiment.SetFinalFit"/>); null when the model is
    /// the trial's own. <see cref="Metric"/> and <see cref="ValidationMetrics"/> stay the trial's own model's: the final fit learned from
    /// the validation rows, so no held-out figure of it exists inside the experiment.
    /// </summary>
    public Sape2FinalFit? FinalFit { get; internal set; }

    /// <summary>
    /// The ensemble <see cref="Model"/> averages, when ensemble selection kept more than this trial (<see cref="Sape2Experiment.SetEnsemble"/>);
    /// null otherwise. This trial is its first member (its final fit, when there was one).
    /// </summary>
    public Sape2Ensemble? Ensemble { get; internal set; }
}
