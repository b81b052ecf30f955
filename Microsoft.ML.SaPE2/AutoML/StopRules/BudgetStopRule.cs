using System.Diagnostics;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// Stops when the search's share of the time budget is spent, or when what is left cannot take another trial to its first rung at the
/// measured seconds per epoch (it could not be compared with any other, so its time would be lost; before any trial has a model, one
/// always starts).
/// </summary>
internal sealed class BudgetStopRule(Stopwatch clock, TimeSpan searchDeadline, TimeSpan deadline, uint budgetSeconds) : IStopRule
{
    /// <summary>The search's time left.</summary>
    public TimeSpan Remaining => searchDeadline - clock.Elapsed;

    public string? ReasonToStop(ExperimentState state)
    {
        var remaining = Remaining;
        if (remaining <= TimeSpan.Zero)
            return searchDeadline < deadline ? $"the search's {searchDeadline.TotalSeconds:F0} s are spent."
                : $"the {budgetSeconds} s budget is spent.";
        if (state.Best is null || state.SecondsPerEpoch is not { } perEpoch) return null;
        int firstRung = state.Asha.Rungs.Count > 0 ? state.Asha.Rungs[0] : state.Asha.PlannedEpochs;
        return remaining.TotalSeconds >= perEpoch * firstRung ? null : $"the remaining {remaining.TotalSeconds:F0} s cannot take another " +
            $"trial to its first rung ({firstRung} epoch(s), about {perEpoch * firstRung:F0} s); stopping.";
    }
}
