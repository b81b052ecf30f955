namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>Stops when the caller's token of <see cref="Sape2Experiment.RunAsync"/> is cancelled.</summary>
internal sealed class CancellationStopRule(CancellationToken token) : IStopRule
{
    public string? ReasonToStop(ExperimentState state) => token.IsCancellationRequested ? "cancelled." : null;
}
