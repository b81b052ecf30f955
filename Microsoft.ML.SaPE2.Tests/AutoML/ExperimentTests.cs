using System.Diagnostics;
using Microsoft.ML.SaPE2.AutoML;
using static Microsoft.ML.SaPE2.Tests.AutoML.AutoMLTestData;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>Experiments that train, on tiny images, in seconds.</summary>
[TestClass]
public sealed class ExperimentTests
{
    [TestMethod]
    public void ABudgetOfAFewSecondsEndsWithinAStepAndStillReturnsAModel()
    {
        var ml = new MLContext(seed: 1);
        var data = Images(ml, classes: 4, perClass: 60);
        var experiment = Experiment(ml, data).SetTrainingTimeInSeconds(3).SetMaxEpochsPerTrial(500);
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.RawMessage); };
        var clock = Stopwatch.StartNew();
        var best = experiment.RunAsync().GetAwaiter().GetResult();
        double seconds = clock.Elapsed.TotalSeconds;
        // Not a timing bound (a loaded or a fast machine moves it): the budget, not the 500 epochs, ended the last trial. The minute
        // only catches a run that ignored the budget altogether.
        Assert.IsTrue(seconds < 60, $"A 3 s budget took {seconds:F2} s.");
        Assert.IsTrue(experiment.Trials[^1].Reason?.Contains("time budget") == true || experiment.Trials[^1].EpochsTrained < 500,
            $"The last trial ({experiment.Trials[^1].Status}, {experiment.Trials[^1].Reason}) was not ended by the budget.");
        Assert.IsNotNull(best.Model, "The budget's end still returns a model.");
        Assert.IsNull(best.FinalFit, "The rest of a 3 s budget cannot train the 500 planned epochs again: no final fit.");
        Assert.IsTrue(warnings.Any(w => w.Contains("partial model") && w.Contains($"of its 500 planned epoch(s)")),
            "The user is told the model is partial: " + string.Join(" | ", warnings));
        Assert.IsTrue(best.EpochsTrained is > 0 and < 500, $"{best.EpochsTrained} epochs.");
        var scored = best.Model.Transform(data);
        Assert.IsNotNull(scored.Schema.GetColumnOrNull("Score"));
        Assert.AreEqual(best.Metric, best.ValidationMetrics!.MicroAccuracy, 1e-6,
            "The validation metrics are those of the returned model (its micro accuracy is the trial's metric).");
        best.Model.Dispose();
    }

    [TestMethod]
    public void TheFinalFitTrainsTheBestConfigurationOnEveryRowForALongerSchedule()
    {
        var ml = new MLContext(seed: 1);
        var data = Images(ml, classes: 4, perClass: 12);
        var experiment = Experiment(ml, data).SetMaxEpochsPerTrial(2).SetMaxModelToExplore(2);
        var best = experiment.RunAsync().GetAwaiter().GetResult();
        Assert.IsNotNull(best.FinalFit, "With most of the default 600 s left, the best configuration is trained again.");
        Assert.AreEqual(6, best.FinalFit.Epochs, "three times the trials' 2 epochs: the cap, as the budget allows far more");
        Assert.AreEqual(6, best.FinalFit.EpochsTrained);
        Assert.AreEqual(48, best.FinalFit.TrainingRows, "every row, the validation hold-back included");
        Assert.AreEqual(6, best.Model!.TrainingHistory.Count, "the returned model is the final fit");
        Assert.IsTrue(best.Model.TrainingHistory.All(h => h.ValidationAccuracy is null), "the final fit holds nothing back");
        Assert.AreEqual(2, best.EpochsTrained, "the trial's own record is unchanged");
        Assert.IsNotNull(best.ValidationMetrics, "the trial's own model was scored on the validation rows before the final fit");
        Assert.AreEqual(6, experiment.TrainerOptions(best).Epochs, "the options that reproduce the returned model are the final fit's");
        best.Model.Dispose();

        var without = Experiment(new MLContext(seed: 1), Images(ml, 4, 12)).SetMaxEpochsPerTrial(2).SetMaxModelToExplore(2).SetFinalFit(false)
            .RunAsync().GetAwaiter().GetResult();
        Assert.IsNull(without.FinalFit);
        Assert.AreEqual(without.EpochsTrained, without.Model!.TrainingHistory.Count, "without a final fit the trial's own model is returned");
        without.Model.Dispose();
    }

    [TestMethod]
    public void TheDeadlineStopsWhateverTrialIsRunningWithinAStep()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.RawMessage); };
        var experiment = Experiment(ml, Images(ml, classes: 4, perClass: 60)).SetTrainingTimeInSeconds(5).SetMaxEpochsPerTrial(30);
        var clock = Stopwatch.StartNew();
        var best = experiment.RunAsync().GetAwaiter().GetResult();
        double seconds = clock.Elapsed.TotalSeconds;
        Assert.IsTrue(seconds < 60, $"A 5 s budget took {seconds:F2} s.");   // the reasons below are the check; this catches a hang
        Assert.IsNotNull(best.Model);
        var last = experiment.Trials[^1];
        bool declined;
        lock (log) declined = log.Any(l => l.Contains("cannot take another trial to its first rung", StringComparison.Ordinal));
        Assert.IsTrue(last.Reason?.Contains("time budget") == true || declined,
            $"The last trial ({last.Status}, {last.Reason}) was not ended by the budget, and no trial was declined for lack of time.");
        best.Model.Dispose();
    }

    [TestMethod]
    public void CancellingMidTrialReturnsTheBestSoFarWithinAStep()
    {
        var ml = new MLContext(seed: 1);
        var split = ml.Data.TrainTestSplit(Images(ml, classes: 4, perClass: 30), testFraction: 0.25, seed: 2);
        using var cancellation = new CancellationTokenSource();
        var cancelledAt = new Stopwatch();
        var monitor = new RecordingMonitor
        {
            Epoch = (settings, progress) =>
            {
                if (settings.TrialId == 1 && progress.Epoch == 2) { cancellation.Cancel(); cancelledAt.Start(); }
            },
        };
        var experiment = Experiment(ml, ml.Data.LoadFromEnumerable(Array.Empty<CountingRow>())).SetDataset(split).SetMaxEpochsPerTrial(6)
            .SetMonitor(monitor);
        var best = experiment.RunAsync(cancellation.Token).GetAwaiter().GetResult();
        Assert.IsTrue(cancelledAt.Elapsed.TotalSeconds < 2, $"Returned {cancelledAt.Elapsed.TotalSeconds:F2} s after the cancellation.");
        Assert.IsNotNull(best.Model);
        var trials = experiment.Trials;
        Assert.AreEqual(2, trials.Count, "No trial starts after the cancellation.");
        Assert.AreEqual(Sape2TrialStatus.Completed, trials[0].Status);
        Assert.AreEqual(Sape2TrialStatus.Cancelled, trials[1].Status);
        Assert.AreEqual(2, trials[1].EpochsTrained, "The cancelled trial kept the epochs it finished.");
        best.Model.Dispose();
    }

    [TestMethod]
    public void AResumedExperimentSkipsFinishedTrialsAndRefusesOtherSettings()
    {
        string folder = Directory.CreateTempSubdirectory("sape2-experiment-").FullName;
        try
        {
            var first = Experiment(new MLContext(seed: 1), Images(new MLContext(seed: 1), 4, 12)).SetCheckpoint(folder).SetMaxEpochsPerTrial(2)
                .SetMaxModelToExplore(3);
            first.RunAsync().GetAwaiter().GetResult().Model!.Dispose();
            Assert.IsTrue(File.Exists(Path.Combine(folder, "experiment.db")));
            Assert.IsTrue(File.Exists(Path.Combine(folder, "best-model.zip")));

            var monitor = new RecordingMonitor();
            var ml = new MLContext(seed: 1);
            var resumed = Experiment(ml, Images(ml, 4, 12)).SetCheckpoint(folder).SetMaxEpochsPerTrial(2).SetMaxModelToExplore(5)
                .SetMonitor(monitor);
            var best = resumed.RunAsync().GetAwaiter().GetResult();
            CollectionAssert.AreEqual(new[] { "running 3", "running 4" }, monitor.Events.Where(e => e.StartsWith("running")).ToArray(),
                "Only the trials the first run did not finish run.");
            Assert.AreEqual(5, resumed.Trials.Count);
            for (int i = 0; i < 3; i++)
                Assert.AreEqual(first.Trials[i].Metric, resumed.Trials[i].Metric, $"Trial {i} is read back, not rerun.");
            Assert.IsNotNull(best.Model);
            best.Model.Dispose();

            var other = Experiment(ml, Images(ml, 4, 12)).SetCheckpoint(folder).SetMaxEpochsPerTrial(2)
                .SetMulticlassClassificationMetric(Sape2MulticlassMetric.LogLoss);
            var refused = Assert.ThrowsExactly<InvalidOperationException>(() => other.RunAsync().GetAwaiter().GetResult());
            StringAssert.Contains(refused.Message, "metric = 'MicroAccuracy'");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Proposes a learning rate the trainer refuses for trial 1, then the default.</summary>
    private sealed class FailOnce : ISape2Tuner
    {
        public Sape2TrialParameters? Propose(Sape2TrialSettings settings)
        {
            var parameters = settings.SearchSpace.Default();
            if (settings.TrialId == 1) parameters.LearningRate = double.NaN;
            return parameters;
        }

        public void Update(Sape2TrialResult result) { }
    }

    [TestMethod]
    public void AFailedTrialIsRecordedAndTheExperimentGoesOn()
    {
        var ml = new MLContext(seed: 1);
        var monitor = new RecordingMonitor();
        var experiment = Experiment(ml, Images(ml, 4, 12)).SetSearchSpace(TunerTests.Only("LearningRate")).SetTuner(new FailOnce())
            .SetMaxEpochsPerTrial(2).SetMaxModelToExplore(3).SetMonitor(monitor);
        var best = experiment.RunAsync().GetAwaiter().GetResult();
        var trials = experiment.Trials;
        Assert.AreEqual(Sape2TrialStatus.Failed, trials[1].Status);
        StringAssert.Contains(trials[1].Reason, "LearningRate");
        Assert.IsNotNull(trials[1].Exception);
        Assert.AreEqual(Sape2TrialStatus.Completed, trials[2].Status, "The experiment went on after the failure.");
        CollectionAssert.Contains(monitor.Events, "failed 1");
        Assert.IsNotNull(best.Model);
        best.Model.Dispose();
    }

    [TestMethod]
    public void WhenEveryTrialFailsTheErrorGivesTheFirstFailure()
    {
        // One class only: the options pass every check made before decoding, but each trial fails once it reads the labels. Three
        // trials in a row fail with none trained, and the experiment stops there instead of failing until its budget ends.
        var ml = new MLContext(seed: 1);
        var experiment = Experiment(ml, Images(ml, 1, 24)).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(50).SetTrainingTimeInSeconds(600);
        var error = Assert.ThrowsExactly<InvalidOperationException>(() => experiment.RunAsync().GetAwaiter().GetResult());
        StringAssert.StartsWith(error.Message, "Every trial failed (3); the first: ");
        StringAssert.Contains(error.Message, "Only one class");
        Assert.AreEqual(3, experiment.Trials.Count);
    }

    [TestMethod]
    public void FixedOptionsNoTrialCanUseAreRefusedBeforeTheFirstTrial()
    {
        var ml = new MLContext(seed: 1);
        var monitor = new RecordingMonitor();
        var threeChannels = new Normalization([0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f]);
        var experiment = Experiment(ml, Images(ml, 4, 12)).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(2).SetMonitor(monitor)
            .SetTrainerOptions(new Sape2ImageClassificationTrainer.Options { ImageSize = 16, Channels = 1, Device = "cpu",
                Normalization = threeChannels });
        var error = Assert.Throws<ArgumentException>(() => experiment.RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(error.Message, "Normalization needs 1 mean and std values; got 3 and 3.");
        Assert.AreEqual(0, monitor.Events.Count, "No trial started.");
    }

    [TestMethod]
    public void ABadImageEndsTheExperimentAtTheFirstTrial()
    {
        // The data, not the trial, is wrong: every trial would fail the same way, so the first failure ends the experiment.
        var ml = new MLContext(seed: 1);
        var monitor = new RecordingMonitor();
        var experiment = Experiment(ml, Images(ml, 4, 12)).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(3).SetMonitor(monitor)
            .SetTrainerOptions(new Sape2ImageClassificationTrainer.Options { ImageSize = 16, Channels = 1, Device = "cpu", MaxPixels = 10 });
        var error = Assert.ThrowsExactly<InvalidImageException>(() => experiment.RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(error.Message, "over the limit of 10. Shrink it or raise MaxPixels.");
        Assert.IsTrue(error.Row is >= 0 and < 48, $"row {error.Row}: a row of the 48 the dataset has");
        Assert.IsFalse(monitor.Events.Any(e => e.StartsWith("failed", StringComparison.Ordinal)), string.Join(", ", monitor.Events));
    }

    [TestMethod]
    public void ImagesAreDecodedOnceAcrossTrials()
    {
        var ml = new MLContext(seed: 1);
        var data = Images(ml, 4, 12);
        var readsAtStart = new List<int>();
        CountingRow.ResetReads();
        var monitor = new RecordingMonitor { Running = _ => readsAtStart.Add(CountingRow.Reads) };
        var best = Experiment(ml, data).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(4).SetMonitor(monitor).RunAsync().GetAwaiter().GetResult();
        best.Model!.Dispose();
        Assert.AreEqual(4, readsAtStart.Count);
        Assert.IsTrue(readsAtStart[1] > 0, "Trial 0 read the images.");
        Assert.AreEqual(readsAtStart[1], readsAtStart[3],
            $"Trials 1 and 2 read images again: reads at each trial's start {string.Join(", ", readsAtStart)}.");
    }

    [TestMethod]
    public void TwentyTrialsDoNotGrowNativeMemory()
    {
        // ViT-Tiny trials (5.5 M parameters, 22 MB of weights each), so that one model kept alive per trial would add hundreds of MB.
        var ml = new MLContext(seed: 1);
        var space = TunerTests.Only("LearningRate", "WeightDecay", "LabelSmoothing")
            .With(new Sape2ChoiceKnob(nameof(Sape2TrialParameters.Preset), new object[] { VitPreset.Tiny }, VitPreset.Tiny));
        var resident = new List<long>();
        var monitor = new RecordingMonitor
        {
            Running = _ =>
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                resident.Add(ProcessMemory.Bytes("VmRSS"));
            },
        };
        var experiment = Experiment(ml, Images(ml, 4, 12)).SetSearchSpace(space).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(20)
            .SetRandomSearchTuner(3).SetMonitor(monitor)
            .SetEnsemble(false);   // with it, the best five trial models are kept on purpose (a bounded pool, not a leak per trial)
        var best = experiment.RunAsync().GetAwaiter().GetResult();
        Assert.AreEqual(20, experiment.Trials.Count);
        Assert.AreEqual(1, experiment.Trials.Count(t => t.Model is not null), "Only the best trial keeps its model.");
        best.Model!.Dispose();
        double growth = (resident.Skip(5).Max() - resident[5]) / 1e6;
        Console.WriteLine($"resident MB at each trial's start: {string.Join(", ", resident.Select(r => r / 1_000_000))}");
        Assert.IsTrue(growth < 120, $"Resident memory grew {growth:F0} MB over trials 5–19 (one leaked model a trial would be ~300 MB): " +
            $"{string.Join(", ", resident.Select(r => r / 1_000_000))}.");
    }
}
