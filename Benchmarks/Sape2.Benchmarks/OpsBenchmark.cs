using Microsoft.ML.SaPE2.Modeling;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>
/// `ops`: the operations libtorch dispatches for one attention layer of each encoding — the layer of
/// <see cref="LayerBenchmark"/> — in the forward and in the backward, counted by <see cref="DispatchCounter"/>. On a GPU each
/// is at least one kernel launch and ≈12 µs of host time, so at small shapes this count is the step time.
/// </summary>
internal static class OpsBenchmark
{
    /// <summary>SaPE²'s budget: its layer's forward + backward operations together.</summary>
    public const int Sape2Budget = 140;

    /// <summary>The operations one layer dispatches: forward, backward (names in order, autograd nodes left out).</summary>
    public record Count(IReadOnlyList<DispatchCounter.Dispatch> Forward, IReadOnlyList<DispatchCounter.Dispatch> Backward)
    {
        public int Total => Forward.Count + Backward.Count;

        /// <summary>Those called by TorchSharp or the autograd engine itself, not inside another operator: what the budget counts.</summary>
        public int Direct => Forward.Count(d => d.Depth == 0) + Backward.Count(d => d.Depth == 0);
    }

    /// <summary>
    /// Counts one forward and one backward of <paramref name="layer"/> on a batch-1 input that needs a gradient, as inside a
    /// model, with the upstream gradient given (no loss operations) and the parameters' gradients unset first (as after
    /// <c>zero_grad(set_to_none)</c>). Two uncounted calls first, so nothing done once per process is counted.
    /// </summary>
    public static Count Measure(Attention layer)
    {
        var grid = LayerBenchmark.Grid;
        using var input = LayerBenchmark.Input();
        using var upstream = ones_like(input);
        void Step(DispatchCounter? counter, List<IReadOnlyList<DispatchCounter.Dispatch>> parts)
        {
            foreach (var p in layer.parameters()) p.grad = null;
            using var scope = NewDisposeScope();
            var x = input.detach().requires_grad_(true);
            counter?.Take();
            var output = layer.forward(x, grid);
            if (counter is not null) parts.Add(counter.Take());
            output.backward(new[] { upstream });
            if (counter is not null) parts.Add(counter.Take());
        }
        Step(null, new());
        Step(null, new());
        var parts = new List<IReadOnlyList<DispatchCounter.Dispatch>>();
        using (var counter = DispatchCounter.Start()) Step(counter, parts);
        return new Count(Operators(parts[0]), Operators(parts[1]));
    }

    private static IReadOnlyList<DispatchCounter.Dispatch> Operators(IReadOnlyList<DispatchCounter.Dispatch> calls) =>
        calls.Where(c => c.IsOperator).ToList();

    public static void Run(TextWriter report, bool listSape2)
    {
        var layers = LayerBenchmark.Layers();
        var counts = layers.Select(l => (l.Name, Count: Measure(l.Layer))).ToList();
        var ape = counts[0].Count;
        var config = LayerBenchmark.Baseline;
        report.WriteLine($"### Operations dispatched by one attention layer: batch 1, {config.GridHeight}×{config.GridWidth} patches + CLS, " +
            $"width {config.EmbedDim}, {config.NumHeads} heads (libtorch RecordFunction, aten:: operators)");
        report.WriteLine();
        report.WriteLine("| layer | forward | backward | forward + backward | beyond the APE layer | of which called directly " +
            "(not inside another operator): forward, backward |");
        report.WriteLine("|---|---|---|---|---|---|");
        foreach (var (name, count) in counts)
            report.WriteLine($"| {name} | {count.Forward.Count} | {count.Backward.Count} | {count.Total} | {count.Total - ape.Total} | " +
                $"{count.Forward.Count(d => d.Depth == 0)}, {count.Backward.Count(d => d.Depth == 0)} |");
        var sape2 = counts.Single(c => c.Name == LayerBenchmark.Sape2).Count;
        report.WriteLine();
        report.WriteLine($"SaPE² budget: operations called directly in forward + backward ≤ {Sape2Budget}: " +
            $"{(sape2.Direct <= Sape2Budget ? "met" : "NOT met")} ({sape2.Direct}; all dispatches, nested ones included: {sape2.Total}).");
        if (listSape2)
        {
            foreach (var (part, names) in new[] { ("forward", sape2.Forward), ("backward", sape2.Backward) })
            {
                report.WriteLine();
                report.WriteLine($"SaPE² {part}, in order: " + string.Join(" ", names.Select(n => new string('.', n.Depth) + n.Name[6..])));
            }
        }
        foreach (var (_, layer) in layers) layer.Dispose();
    }
}
