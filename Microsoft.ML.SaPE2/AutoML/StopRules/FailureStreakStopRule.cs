namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// Stops when the first trials all failed, one after another, with none trained: the fixed options or the data are at fault, and every
/// later trial would fail the same way until the budget ends.
/// </summary>
internal sealed class FailureStreakStopRule : IStopRule
{
    /// <summary>Failed trials in a row, with none trained yet, before the experiment stops.</summary>
    public const int FailuresBeforeGivingUp = 3;

    public string? ReasonToStop(ExperimentState state) => state.FailuresInARow >= FailuresBeforeGivingUp && state.Best is null
        ? $"the first {state.FailuresInARow} trials all failed; stopping rather than failing every trial until the budget ends."
        : null;
}
