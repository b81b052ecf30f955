namespace Microsoft.ML.SaPE2;

/// <summary>A snapshot of training, reported every few steps and at the end of each epoch.</summary>
public sealed record TrainingProgress
{
    /// <summary>Epoch, counted from 1.</summary>
    public int Epoch { get; init; }
    /// <summary>Total epochs planned.</summary>
    public int Epochs { get; init; }
    /// <summary>Step within the epoch, counted from 1.</summary>
    public int Step { get; init; }
    /// <summary>Steps per epoch.</summary>
    public int StepsPerEpoch { get; init; }
    /// <summary>Learning rate of the last step.</summary>
    public double LearningRate { get; init; }
    /// <summary>Mean training loss so far in this epoch.</summary>
    public double TrainLoss { get; init; }
    /// <summary>Training accuracy so far in this epoch (against the unmixed labels).</summary>
    public double TrainAccuracy { get; init; }
    /// <summary>Validation loss of this epoch; null until the epoch ends or without a validation set.</summary>
    public double? ValidationLoss { get; init; }
    /// <summary>Validation accuracy of this epoch; null until the epoch ends or without a validation set.</summary>
    public double? ValidationAccuracy { get; init; }
    /// <summary>Validation macro accuracy (mean per-class recall) of this epoch; null until the epoch ends or without a validation set.</summary>
    public double? ValidationMacroAccuracy { get; init; }
    /// <summary>Training images per second over this epoch so far.</summary>
    public double ImagesPerSecond { get; init; }
    /// <summary>Time since the fit started.</summary>
    public TimeSpan Elapsed { get; init; }
    /// <summary>Estimated time to the last epoch's end.</summary>
    public TimeSpan EstimatedRemaining { get; init; }
    /// <summary>Whether this report closes an epoch (validation figures included).</summary>
    public bool EpochCompleted { get; init; }
}

/// <summary>The figures of one finished epoch.</summary>
public sealed record EpochMetrics(int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy,
    double LearningRate, double Seconds)
{
    /// <summary>Validation macro accuracy (mean per-class recall); null without a validation set.</summary>
    public double? ValidationMacroAccuracy { get; init; }
}
