using System.Diagnostics;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>
/// `layer`: one attention layer's forward + backward at a small, dispatch-bound shape — batch 1, one CPU thread,
/// Micro at 32×32 with patch 4 (8×8 patches plus CLS, width 64, 2 heads) — per position encoding, as a ratio to the APE layer
/// (content-only attention) in the same run. At this size a layer's time is mostly the host cost of dispatching its tensor
/// operations, as a GPU step is, so the ratio shows what fewer operations buy without a GPU.
/// </summary>
internal static class LayerBenchmark
{
    /// <summary>The layer of every mode that measures one: Micro at 32×32 with patch 4 (8×8 patches plus CLS, width 64, 2 heads).</summary>
    public static VitConfig Baseline { get; } = VitConfig.FromPreset(VitPreset.Micro, imageSize: 32, patchSize: 4, inChannels: 3, numClasses: 10);

    /// <summary>The layer's patch grid: 8×8.</summary>
    public static PatchGrid Grid => new(Baseline.GridHeight, Baseline.GridWidth);

    /// <summary>A random input of one image's tokens, (1, CLS + 64, 64).</summary>
    public static Tensor Input() => randn(1, Baseline.PrefixTokens + Grid.Count, Baseline.EmbedDim);

    /// <summary>The SaPE² layer's name; "SaPE² (plain autograd form)" is the same function before the fused form.</summary>
    public const string Sape2 = "SaPE²", Sape2Plain = "SaPE² (plain autograd form)";

    /// <summary>One attention layer per encoding compared, APE's (content-only attention) first.</summary>
    public static List<(string Name, Attention Layer)> Layers()
    {
        var layers = new (string Name, PositionEncodingKind Encoding)[]
        {
            ("APE (content only)", PositionEncodingKind.Absolute), ("RoPE-Mixed", PositionEncodingKind.RopeMixed),
            ("CoPE", PositionEncodingKind.Cope), (Sape2Plain, PositionEncodingKind.Sape2), (Sape2, PositionEncodingKind.Sape2),
        }.Select(l => (l.Name, Layer: new Attention(Baseline with { PositionEncoding = l.Encoding }))).ToList();
        ((Sape2Attention)layers.Single(l => l.Name == Sape2Plain).Layer.PositionEncoding).PlainForm = true;
        return layers;
    }

    public static void Run(TextWriter report, int rounds, int callsPerRound)
    {
        torch.set_num_threads(1);
        var baseline = Baseline;
        var grid = Grid;
        var layers = Layers();
        using var input = Input();

        double Call(Attention layer)
        {
            using var scope = NewDisposeScope();
            var x = input.detach().requires_grad_(true);
            long start = Stopwatch.GetTimestamp();
            layer.forward(x, grid).sum().backward();
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        foreach (var (_, layer) in layers) for (int i = 0; i < 20; i++) Call(layer);   // warm-up
        var times = layers.ToDictionary(l => l.Name, _ => new List<double>());
        for (int round = 0; round < rounds; round++)
            foreach (var (name, layer) in layers)
                times[name].Add(Enumerable.Range(0, callsPerRound).Select(_ => Call(layer)).Order().ElementAt(callsPerRound / 2));
        double Median(string name) => times[name].Order().ElementAt(rounds / 2);
        double ape = Median(layers[0].Name);

        report.WriteLine($"### One attention layer, forward + backward: batch 1, {baseline.GridHeight}×{baseline.GridWidth} patches + CLS, width " +
            $"{baseline.EmbedDim}, {baseline.NumHeads} heads, 1 CPU thread; median of {rounds} interleaved rounds of {callsPerRound} calls");
        report.WriteLine();
        report.WriteLine("| layer | ms per forward + backward | ÷ APE layer |");
        report.WriteLine("|---|---|---|");
        foreach (var (name, _) in layers) report.WriteLine($"| {name} | {Median(name):F3} | {Median(name) / ape:F2} |");
        foreach (var (_, layer) in layers) layer.Dispose();
    }
}
