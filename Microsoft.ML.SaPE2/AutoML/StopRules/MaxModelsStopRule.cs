namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>Stops once the store holds <c>SetMaxModelToExplore</c> trials (every worker's, in a shared study; the store's claim enforces
/// the same limit atomically when two workers race for the last one).</summary>
internal sealed class MaxModelsStopRule(int maxModels, TrialStore store) : IStopRule
{
    public string? ReasonToStop(ExperimentState state) =>
        store.ClaimedCount() >= maxModels ? $"{maxModels} trials explored (SetMaxModelToExplore)." : null;
}
