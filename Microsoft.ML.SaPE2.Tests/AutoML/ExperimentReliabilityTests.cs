using Microsoft.ML.SaPE2.AutoML;
using Microsoft.ML.SaPE2.Data;
using static Microsoft.ML.SaPE2.Tests.AutoML.AutoMLTestData;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>An experiment's answers when its data, its options or its run go wrong: each says what, naming the row or setting.</summary>
[TestClass]
public sealed class ExperimentReliabilityTests
{
    [TestMethod]
    public void AResumeOnOtherImagesWithTheSameCountsIsRefused()
    {
        string folder = Directory.CreateTempSubdirectory("sape2-experiment-").FullName;
        try
        {
            var ml = new MLContext(seed: 1);
            Experiment(ml, Images(ml, 4, 12)).SetCheckpoint(folder).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(1)
                .RunAsync().GetAwaiter().GetResult().Model!.Dispose();
            // Other noise (seed 2): the same 48 rows, 12 per class, other pixels.
            var other = Experiment(ml, Images(ml, 4, 12, seed: 2)).SetCheckpoint(folder).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(2);
            var refused = Assert.ThrowsExactly<InvalidOperationException>(() => other.RunAsync().GetAwaiter().GetResult());
            StringAssert.Contains(refused.Message, "training data = '");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    [Timeout(300_000)]
    public void OptionsNoTrialCouldTrainWithAreRefusedBeforeTheFirstTrial()
    {
        // With its epochs set, the experiment once skipped the trainer's checks and let every trial fail until the budget ended.
        var ml = new MLContext(seed: 1);
        var monitor = new RecordingMonitor();
        var experiment = Experiment(ml, Images(ml, 2, 12)).SetTrainingTimeInSeconds(600).SetMaxEpochsPerTrial(1).SetMonitor(monitor)
            .SetTrainerOptions(new Sape2ImageClassificationTrainer.Options { ImageSize = 5000, Channels = 1, Device = "cpu" });
        var refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => experiment.RunAsync().GetAwaiter().GetResult());
        StringAssert.Contains(refused.Message, "the limit is 4096 a side");
        Assert.AreEqual(0, monitor.Events.Count, "No trial started.");
    }

    [TestMethod]
    public void ABadImageIsNamedByItsRowInTheDataPassedNotInTheSplit()
    {
        // SetDataset(data) splits the rows 90/10; row 17 of the data is not an image. The error names row 17, whichever part it fell in.
        var ml = new MLContext(seed: 1);
        var rows = Rows(2, 12);
        rows[17] = new CountingRow { Label = rows[17].Label, Image = [1, 2, 3] };
        var experiment = Experiment(ml, Keyed(ml, rows)).SetMaxEpochsPerTrial(1).SetMaxModelToExplore(2);
        var error = Assert.ThrowsExactly<InvalidImageException>(() => experiment.RunAsync().GetAwaiter().GetResult());
        Assert.AreEqual(17, error.Row, error.Message);
        StringAssert.Contains(error.Message, "row 17 of column 'Image'");
    }

    [TestMethod]
    public void ACancelledExperimentSaysItWasCancelled()
    {
        var ml = new MLContext(seed: 1);
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        var experiment = Experiment(ml, Images(ml, 2, 12));
        var e = Assert.ThrowsExactly<OperationCanceledException>(() => experiment.RunAsync(cancellation.Token).GetAwaiter().GetResult());
        StringAssert.Contains(e.Message, "was cancelled");
        Assert.IsFalse(e.Message.Contains("SetTrainingTimeInSeconds"), e.Message);
    }
}
