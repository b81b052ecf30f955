using System.Runtime;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.Tests.Training;

/// <summary>
/// The gate that keeps garbage collections between training steps (TorchSharp frees the Scalars its own operators make from their
/// finalizers, so a collection during a libtorch call can free one that libtorch still reads).
/// </summary>
[TestClass]
public sealed class CollectionGateTests
{
    [TestMethod]
    public void AnotherThreadsAllocationsDoNotCollectWhileTheGateIsHeld()
    {
        using var gate = new CollectionGate();
        gate.BeforeStep();
        Assert.IsTrue(gate.Holding, "The gate holds a no-GC region after BeforeStep.");
        int collections = GC.CollectionCount(0);
        // Another thread allocates less than the gate's allowance (several times the renewal threshold: only a step renews).
        var worker = new Thread(() =>
        {
            var kept = new List<byte[]>();
            for (int i = 0; i < 1000; i++) kept.Add(new byte[8 * 1024]);
            GC.KeepAlive(kept);
        });
        worker.Start();
        worker.Join();
        Assert.AreEqual(collections, GC.CollectionCount(0), "A collection ran inside the gate's region.");
        gate.Close();
        Assert.AreNotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode, "Close ends the region.");
    }

    [TestMethod]
    public void TheRegionIsRenewedAtAStepOnceAMegabyteIsAllocatedAndASecondGateRunsWithout()
    {
        using var gate = new CollectionGate();
        gate.BeforeStep();
        gate.BeforeStep();
        Assert.IsTrue(gate.Holding, "Nothing allocated since: the region is kept.");
        var spent = new byte[CollectionGate.RenewAfter + 1024];   // past the threshold, within the allowance: the region still holds
        GC.KeepAlive(spent);
        int collections = GC.CollectionCount(2);
        gate.BeforeStep();
        Assert.IsTrue(gate.Holding);
        Assert.AreEqual(collections + 1, GC.CollectionCount(2), "Renewing the region collects once, at the step boundary.");

        using var second = new CollectionGate();   // a second trainer in the process while the first holds the region
        second.BeforeStep();
        Assert.IsFalse(second.Holding, "Only one region at a time: the second gate runs without one.");
        second.Close();
        Assert.IsTrue(gate.Holding, "Closing the second gate leaves the first one's region alone.");
        gate.Dispose();
        Assert.AreNotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
    }

    [TestMethod]
    public void AFitLeavesTheProcessOutOfANoCollectionRegion()
    {
        var data = TrainingEngineTests.Stripes(64);
        var result = VisionTransformerTrainer.Fit(data, data, TrainingEngineTests.Tiny8, TrainingEngineTests.Quick(epochs: 1));
        result.Classifier.Dispose();
        Assert.AreNotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        // A run that ends by an exception between two steps, while the gate holds a region (the second step's host check throws).
        int steps = 0;
        Assert.ThrowsExactly<OperationCanceledException>(() => VisionTransformerTrainer.Fit(data, null, TrainingEngineTests.Tiny8,
            TrainingEngineTests.Quick(epochs: 1), beforeEachStep: () => { if (++steps == 2) throw new OperationCanceledException("host"); }));
        Assert.AreEqual(2, steps);
        Assert.AreNotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode, "A failed fit leaves no region behind either.");
    }
}
