using Microsoft.ML.SaPE2.Modeling;
using Sape2.Benchmarks;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>
/// The operations one SaPE² attention layer dispatches in forward + backward, counted by libtorch's RecordFunction
/// hook (<see cref="DispatchCounter"/>), stay within budget — a count, so exact on any machine.
/// </summary>
[TestClass]
public sealed class OperationBudgetTests
{
    [TestMethod]
    public void Sape2LayerDispatchesNoMoreThanItsBudget()
    {
        var layers = LayerBenchmark.Layers();
        try
        {
            var counts = layers.ToDictionary(l => l.Name, l => OpsBenchmark.Measure(l.Layer));
            var ape = counts["APE (content only)"];
            var plain = counts[LayerBenchmark.Sape2Plain];
            var fused = counts[LayerBenchmark.Sape2];
            // The counter sees real work: the APE layer's matmuls and softmax, and more for SaPE² (the floor is APE's layer).
            Assert.IsTrue(ape.Forward.Any(d => d.Name == "aten::_softmax") && ape.Backward.Any(d => d.Name == "aten::_softmax_backward_data"),
                "The counter missed the softmax of the APE layer.");
            Assert.IsTrue(fused.Direct > ape.Direct, $"SaPE²'s layer ({fused.Direct}) dispatches no more than APE's ({ape.Direct}).");
            Assert.IsTrue(fused.Direct <= OpsBenchmark.Sape2Budget,
                $"SaPE²'s layer calls {fused.Direct} operations directly in forward + backward; the budget is {OpsBenchmark.Sape2Budget}.");
            Assert.IsTrue(fused.Total < plain.Total, $"The fused form dispatches {fused.Total} operations, the plain one {plain.Total}.");
        }
        finally
        {
            foreach (var (_, layer) in layers) layer.Dispose();
        }
    }

    [TestMethod]
    public void CounterRecordsOnlyWhileItCounts()
    {
        using var a = ones(2, 2);
        using (var counter = DispatchCounter.Start())
        {
            using var sum = a + a;
            var taken = counter.Take();
            Assert.AreEqual(1, taken.Count(d => d.Name == "aten::add" && d.Depth == 0), "one add, called directly");
            Assert.ThrowsExactly<InvalidOperationException>(() => DispatchCounter.Start());
        }
        using var afterwards = a * a;
        using var again = DispatchCounter.Start();
        Assert.AreEqual(0, again.Take().Count, "A disposed counter's callback kept counting.");
    }
}
