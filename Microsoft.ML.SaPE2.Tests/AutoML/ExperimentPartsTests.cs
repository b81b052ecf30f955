using System.Diagnostics;
using Microsoft.ML.SaPE2.AutoML;
using static Microsoft.ML.SaPE2.Tests.AutoML.AutoMLTestData;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>The experiment's parts on their own: the settings snapshot and the stop rules.</summary>
[TestClass]
public sealed class ExperimentPartsTests
{
    [TestMethod]
    public void ARunReadsItsSettingsWhenItStartsNotWhileItRuns()
    {
        var ml = new MLContext(seed: 1);
        var experiment = Experiment(ml, Images(ml, classes: 4, perClass: 12)).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(3).SetFinalFit(false);
        var monitor = new ChangesSettingsOnFirstTrial(experiment);
        experiment.SetMonitor(monitor);
        var best = experiment.RunAsync().GetAwaiter().GetResult();
        best.Model?.Dispose();
        Assert.IsTrue(monitor.Changed, "the monitor ran");
        Assert.AreEqual(3, experiment.Trials.Count, "SetMaxModelToExplore(1) during the run applies to the next run, not this one");
        Assert.IsTrue(experiment.Trials.All(t => t.PlannedEpochs == 1), "SetMaxEpochsPerTrial(5) during the run did not reach it either");
    }

    private sealed class ChangesSettingsOnFirstTrial(Sape2Experiment experiment) : ISape2Monitor
    {
        public bool Changed { get; private set; }

        public void ReportRunningTrial(Sape2TrialSettings settings)
        {
            if (Changed) return;
            experiment.SetMaxModelToExplore(1).SetMaxEpochsPerTrial(5);
            Changed = true;
        }
    }

    [TestMethod]
    public void TheBudgetRuleStopsWhenTheSearchTimeIsSpentOrCannotReachTheFirstRung()
    {
        var state = State();
        var spent = new BudgetStopRule(Stopwatch.StartNew(), TimeSpan.Zero, TimeSpan.FromSeconds(10), 10);
        StringAssert.Contains(spent.ReasonToStop(state), "the search's 0 s are spent");
        var whole = new BudgetStopRule(Stopwatch.StartNew(), TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(-1), 7);
        StringAssert.Contains(whole.ReasonToStop(state), "the 7 s budget is spent");

        var hour = new BudgetStopRule(Stopwatch.StartNew(), TimeSpan.FromHours(1), TimeSpan.FromHours(1), 3600);
        Assert.IsNull(hour.ReasonToStop(state), "before any trial has a model, a trial always starts");
        var slow = Trial(0, Sape2TrialStatus.Completed, epochs: 4, seconds: 4 * 2000);   // 2,000 s an epoch
        state.Learn(slow);
        state.Best = slow;
        StringAssert.Contains(hour.ReasonToStop(state), "cannot take another trial to its first rung",
            "an hour left, and the first rung needs more than 2,000 s");
    }

    [TestMethod]
    public void TheFailureRuleStopsAfterThreeFailuresInARowOnlyWhileNoTrialHasAModel()
    {
        var state = State();
        var rule = new FailureStreakStopRule();
        for (int i = 0; i < FailureStreakStopRule.FailuresBeforeGivingUp; i++)
        {
            Assert.IsNull(rule.ReasonToStop(state), $"after {i} failure(s)");
            state.CountOutcome(Trial(i, Sape2TrialStatus.Failed, 0, 1));
        }
        StringAssert.Contains(rule.ReasonToStop(state), "the first 3 trials all failed");
        state.CountOutcome(Trial(3, Sape2TrialStatus.Completed, 1, 1));
        Assert.IsNull(rule.ReasonToStop(state), "a trial that did not fail ends the streak");
        for (int i = 4; i < 7; i++) state.CountOutcome(Trial(i, Sape2TrialStatus.Failed, 0, 1));
        state.Best = Trial(3, Sape2TrialStatus.Completed, 1, 1);
        Assert.IsNull(rule.ReasonToStop(state), "with a model in hand, failures do not end the experiment");
    }

    [TestMethod]
    public void TheCancellationRuleFollowsItsToken()
    {
        using var source = new CancellationTokenSource();
        var rule = new CancellationStopRule(source.Token);
        Assert.IsNull(rule.ReasonToStop(State()));
        source.Cancel();
        Assert.AreEqual("cancelled.", rule.ReasonToStop(State()));
    }

    private static ExperimentState State()
    {
        var space = Sape2SearchSpace.ForDevice(cuda: false);
        return new ExperimentState(space, new Sape2RandomSearchTuner(1), [], new AshaRule(new Sape2AshaOptions(), 8), [0, 1, 1],
            onPretrainedBackbone: false, trials: new List<Sape2TrialResult>());
    }

    private static Sape2TrialResult Trial(int id, Sape2TrialStatus status, int epochs, double seconds) => new()
    {
        TrialId = id, Parameters = Sape2SearchSpace.ForDevice(cuda: false).Default(), Status = status, EpochsTrained = epochs,
        PlannedEpochs = 8, Seconds = seconds, Metric = status == Sape2TrialStatus.Failed ? double.NaN : 0.5,
        Loss = status == Sape2TrialStatus.Failed ? double.PositiveInfinity : -0.5,
    };
}
