using Microsoft.ML.SaPE2.AutoML;
using static Microsoft.ML.SaPE2.Tests.AutoML.AutoMLTestData;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>One study, many worker processes, through PostgreSQL (a real server) and SQLite.</summary>
[TestClass]
public sealed class SharedStudyTests
{
    static string folder = "", data = "";

    [ClassInitialize]
    public static void WriteImages(TestContext _)
    {
        folder = Directory.CreateTempSubdirectory("sape2-study-").FullName;
        data = Path.Combine(folder, "data");
        SyntheticFolder(data, classes: 3, perClass: 8);
    }

    [ClassCleanup]
    public static void DeleteFolder() => Directory.Delete(folder, recursive: true);

    static string Study() => $"s{Guid.NewGuid():N}";

    [TestMethod]
    public void FourWorkerProcessesShareOnePostgresStudyAndNoTrialRunsTwice()
    {
        string server = SharedStudyWorkers.Postgres(), study = Study();
        var workers = Enumerable.Range(0, 4).Select(i => SharedStudyWorkers.Start(data, Path.Combine(folder, $"{study}-{i}"), server, 2,
            "--study", study, "--max-trials", "8", "--time", "300")).ToList();
        var finished = workers.Select(w => SharedStudyWorkers.Finish(w, TimeSpan.FromMinutes(5))).ToList();
        foreach (var worker in finished) Assert.AreEqual(0, worker.ExitCode, worker.Output);

        var ran = finished.SelectMany(w => w.Trials).ToList();
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 8).ToList(), ran, "Every trial ran once, in exactly one worker.");
        Assert.IsTrue(finished.Count(w => w.Trials.Length > 0) >= 2, "The trials were spread over the workers.");
        using var store = TrialStore.Open(server, study);
        var trials = store.FinishedTrials(Sape2SearchSpace.ForDevice(cuda: false));
        CollectionAssert.AreEqual(Enumerable.Range(0, 8).ToList(), trials.Select(t => t.Result.TrialId).ToList());
        Assert.AreEqual(4, trials.Select(t => t.Worker).Distinct().Count() + finished.Count(w => w.Trials.Length == 0),
            "The store names the worker of every trial.");
        Assert.IsTrue(trials.All(t => t.Result.Device == "auto"), "A trial's device is recorded.");
        var best = store.Best()!.Value;
        Assert.IsTrue(File.Exists(best.Path), $"The study's best model is where the store says: {best.Path}");
    }

    [TestMethod]
    public void AKilledWorkersTrialIsMarkedInterruptedAndRunAgainOnce()
    {
        string server = SharedStudyWorkers.Postgres(), study = Study();
        // The first worker plans long trials, is killed during its first one, and never writes another heartbeat.
        var first = SharedStudyWorkers.Start(data, Path.Combine(folder, $"{study}-a"), server, 20, "--study", study, "--max-trials", "2",
            "--time", "120", "--heartbeat-timeout", "3");
        using (var store = TrialStore.Open(server, study))
        {
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!store.StatusCounts().ContainsKey("Running"))
            {
                Assert.IsTrue(waited.Elapsed < TimeSpan.FromMinutes(2), "The first worker never started a trial.");
                Thread.Sleep(200);
            }
        }
        first.Kill(entireProcessTree: true);   // SIGKILL: no cleanup runs
        first.WaitForExit();
        Thread.Sleep(TimeSpan.FromSeconds(4));   // past the heartbeat timeout

        var second = SharedStudyWorkers.Finish(SharedStudyWorkers.Start(data, Path.Combine(folder, $"{study}-b"), server, 20, "--study", study,
            "--max-trials", "2", "--time", "120", "--heartbeat-timeout", "3"), TimeSpan.FromMinutes(4));
        Assert.AreEqual(0, second.ExitCode, second.Output);
        StringAssert.Contains(second.Output, "rerun: trial 0 lost its worker (no heartbeat); it runs again as trial 1");
        using var check = TrialStore.Open(server, study);
        var counts = check.StatusCounts();
        Assert.AreEqual(1, counts.GetValueOrDefault("Interrupted"), "The killed trial is recorded as interrupted.");
        Assert.AreEqual(2, check.ClaimedCount(), "It is not counted: two trials ran besides it.");
        CollectionAssert.AreEqual(new[] { 1, 2 },
            check.FinishedTrials(Sape2SearchSpace.ForDevice(cuda: false)).Select(t => t.Result.TrialId).ToArray());
    }

    [TestMethod]
    public void TwoWorkerProcessesShareASqliteStudyOnOneMachine()
    {
        string storage = Path.Combine(folder, "shared.db"), study = Study();
        var workers = Enumerable.Range(0, 2).Select(i => SharedStudyWorkers.Start(data, Path.Combine(folder, $"{study}-{i}"), null, 2,
            "--storage", storage, "--study", study, "--max-trials", "4", "--time", "300")).ToList();
        var finished = workers.Select(w => SharedStudyWorkers.Finish(w, TimeSpan.FromMinutes(4))).ToList();
        foreach (var worker in finished) Assert.AreEqual(0, worker.ExitCode, worker.Output);
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 4).ToList(), finished.SelectMany(w => w.Trials).ToList());
        using var store = TrialStore.Open(storage, study);
        Assert.AreEqual(4, store.ClaimedCount());
        Assert.IsFalse(store.StatusCounts().ContainsKey("Interrupted"));
    }

    [TestMethod]
    public void OneProcessRunsAWorkerPerDeviceAndRecordsEachTrialsDevice()
    {
        string output = Path.Combine(folder, "devices");
        var run = SharedStudyWorkers.Finish(SharedStudyWorkers.Start(data, output, null, 2, "--devices", "cpu,cpu", "--max-trials", "4",
            "--time", "300"), TimeSpan.FromMinutes(4));
        Assert.AreEqual(0, run.ExitCode, run.Output);
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 4).ToList(), run.Trials.ToList());
        using var store = TrialStore.Open(Path.Combine(output, "experiment", "study.db"), "sweep");
        var trials = store.FinishedTrials(Sape2SearchSpace.ForDevice(cuda: false));
        Assert.AreEqual(4, trials.Count);
        Assert.IsTrue(trials.All(t => t.Result.Device == "cpu"));
        CollectionAssert.AreEquivalent(new[] { "/0:cpu", "/1:cpu" }, trials.Select(t => t.Worker[t.Worker.IndexOf('/')..]).Distinct().ToList(),
            "Both workers ran trials.");
    }

    [TestMethod]
    public void AStudyWithOtherSettingsUnderTheSameNameIsRefused()
    {
        string storage = Path.Combine(folder, "identity.db"), study = Study(), checkpoint = Path.Combine(folder, study);
        var ml = new MLContext(seed: 1);
        var first = Experiment(ml, Images(ml, 2, 6)).SetStorage(storage, study).SetCheckpoint(checkpoint).SetMaxEpochsPerTrial(1)
            .SetMaxModelToExplore(1);
        first.RunAsync().GetAwaiter().GetResult().Model!.Dispose();
        var other = Experiment(ml, Images(ml, 2, 6)).SetStorage(storage, study).SetCheckpoint(checkpoint).SetMaxEpochsPerTrial(1)
            .SetMaxModelToExplore(1).SetSearchSpace(TunerTests.Only("LearningRate"));
        var refused = Assert.ThrowsExactly<InvalidOperationException>(() => other.RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(refused.Message, $"The study '{study}'");
        StringAssert.Contains(refused.Message, "search space");
    }

    [TestMethod]
    public void AnUnreachableServerIsRetriedWithBackoffThenNamed()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.ThrowsExactly<InvalidOperationException>(() =>
            TrialStore.Open("Host=127.0.0.1;Port=1;Username=nobody;Password=secret;Timeout=2", "unreachable"));
        Assert.IsTrue(clock.Elapsed.TotalSeconds >= 7, $"Five attempts with 0.5, 1, 2 and 4 s between them; took {clock.Elapsed.TotalSeconds:F1} s.");
        StringAssert.Contains(error.Message, "PostgreSQL 127.0.0.1:1/");
        StringAssert.Contains(error.Message, "could not be reached after 5 attempts");
        Assert.IsFalse(error.Message.Contains("secret"), "The password is never in a message.");
    }
}
