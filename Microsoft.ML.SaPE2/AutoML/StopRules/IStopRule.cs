namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// One reason an experiment stops starting trials (ML.NET AutoML's <c>IStopTrainingManager</c>): the coordinator asks every rule before
/// each trial and stops at the first that answers. Within a trial, ASHA (<see cref="AshaRule"/>) and the trainer's cancellation stop it.
/// </summary>
internal interface IStopRule
{
    /// <summary>Why no further trial should start, for the log; null to go on.</summary>
    string? ReasonToStop(ExperimentState state);
}
