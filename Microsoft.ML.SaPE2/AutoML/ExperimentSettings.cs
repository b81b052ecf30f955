namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// Everything a run of an experiment reads of its settings, copied when <see cref="Sape2Experiment.RunAsync"/> starts: a Set… call
/// during the run changes the next run, never this one (ML.NET AutoML's <c>AutoMLExperimentSettings</c>).
/// </summary>
internal sealed record ExperimentSettings
{
    /// <summary>The training rows and, with <see cref="Validation"/>, the validation rows; or <see cref="Whole"/>, split by the seed.</summary>
    public IDataView? Train { get; init; }
    public IDataView? Validation { get; init; }
    public IDataView? Whole { get; init; }
    public required string LabelColumn { get; init; }
    public required string FeatureColumn { get; init; }
    public Sape2MulticlassMetric Metric { get; init; }
    /// <summary>Null: the device's default space.</summary>
    public Sape2SearchSpace? SearchSpace { get; init; }
    /// <summary>Null: <see cref="Sape2Experiment.DefaultTrainingTimeInSeconds"/>, logged as the default.</summary>
    public uint? TrainingTimeInSeconds { get; init; }
    public int? MaxModels { get; init; }
    /// <summary>Null: the trainer's automatic epochs for the data.</summary>
    public int? MaxEpochsPerTrial { get; init; }
    /// <summary>Null: drawn from the MLContext's seed when the run starts.</summary>
    public int? Seed { get; init; }
    /// <summary>The user's tuner instance, or null for <see cref="TunerFactory"/>'s (made from the run's seed).</summary>
    public ISape2Tuner? Tuner { get; init; }
    public required Func<int, ISape2Tuner> TunerFactory { get; init; }
    public required string TunerName { get; init; }
    public ISape2Monitor? Monitor { get; init; }
    public string? CheckpointFolder { get; init; }
    /// <summary>A shared study's store and name; null for a local experiment.</summary>
    public string? Storage { get; init; }
    public string? Study { get; init; }
    public required Sape2AshaOptions Asha { get; init; }
    /// <summary>A copy of <see cref="Sape2Experiment.SetTrainerOptions"/>'s options.</summary>
    public required Sape2ImageClassificationTrainer.Options TrainerTemplate { get; init; }
    public bool FinalFit { get; init; }
    public bool Ensemble { get; init; }
    public required string WorkerName { get; init; }
    public TimeSpan HeartbeatInterval { get; init; }
    public TimeSpan HeartbeatTimeout { get; init; }

    public bool Shared => Storage is not null;
    public uint Budget => TrainingTimeInSeconds ?? Sape2Experiment.DefaultTrainingTimeInSeconds;

    /// <summary>The experiment's metric of one evaluation (NaN when it has none).</summary>
    public double MetricOf(double? accuracy, double? macroAccuracy, double? logLoss) => Metric switch
    {
        Sape2MulticlassMetric.MacroAccuracy => macroAccuracy ?? double.NaN,
        Sape2MulticlassMetric.LogLoss => logLoss ?? double.NaN,
        _ => accuracy ?? double.NaN,
    };

    /// <summary>What tuners and ASHA minimise: log-loss as it is, accuracies negated; NaN (no score) is the worst.</summary>
    public double LossOf(double value) =>
        double.IsNaN(value) ? double.PositiveInfinity : Metric == Sape2MulticlassMetric.LogLoss ? value : -value;

    /// <summary>
    /// The trainer options of one trial: the template's, with the trial's knobs, seed, epochs and cancellation, and none of the
    /// template's hooks, validation or checkpoints (the experiment's own). On the pretrained backbone the token stride is where the
    /// network is cut, not a free knob, and the backbone's rate is one instead.
    /// </summary>
    public Sape2ImageClassificationTrainer.Options TrialOptions(Sape2TrialParameters p, int seed, int? plannedEpochs, bool onPretrainedBackbone,
        CancellationToken token)
    {
        var o = TrainerTemplate.Copy();
        (o.LabelColumnName, o.FeatureColumnName) = (LabelColumn, FeatureColumn);
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
            Sape2AugmentationLevel.CropFlip => TrainerTemplate.Augmentation,   // null: the trainer's automatic crop and flip
            Sape2AugmentationLevel.RandAugment => new AugmentationOptions { RandAugmentMagnitude = p.RandAugmentMagnitude, MixupAlpha = 0,
                CutmixAlpha = 0 },
            _ => new AugmentationOptions { RandAugmentMagnitude = p.RandAugmentMagnitude, MixProbability = p.MixProbability },
        };
        o.PatchSize = p.PatchSize > 0 && !onPretrainedBackbone ? p.PatchSize : TrainerTemplate.PatchSize;
        o.BackboneLearningRateScale = onPretrainedBackbone ? p.BackboneLearningRateScale : TrainerTemplate.BackboneLearningRateScale;
        o.Preset = p.Preset;
        o.EmaDecay = p.EmaDecay;
        return o;
    }
}
