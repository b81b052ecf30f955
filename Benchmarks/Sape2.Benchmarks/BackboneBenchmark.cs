using System.Diagnostics;
using Microsoft.ML.SaPE2.Interop.Onnx;
using Microsoft.ML.SaPE2.Modeling.Backbone;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>`backbone`: images per second of the ImageNet ResNet18 built from ONNX, forward only (the frozen-feature pass), by batch size.</summary>
internal static class BackboneBenchmark
{
    public static void Run(int stride, int[] batches, TextWriter report)
    {
        var (graph, weights) = ImageNetResNet18.Load(null, stride);
        using var backbone = new GraphBackbone(graph);
        backbone.LoadWeights(weights);
        foreach (var w in weights.Values) w.Dispose();
        backbone.eval();
        report.WriteLine($"| backbone | batch | images/s (forward, no gradient, {get_num_threads()} threads) |");
        report.WriteLine("|---|---|---|");
        using var noGrad = no_grad();
        foreach (int batch in batches)
        {
            using var images = rand(batch, 3, 224, 224) * 255;
            using (backbone.forward(images)) { }   // warm-up
            var clock = Stopwatch.StartNew();
            int done = 0;
            while (clock.Elapsed.TotalSeconds < 5) { using (backbone.forward(images)) { } done += batch; }
            report.WriteLine($"| ResNet18 cut at stride {stride} | {batch} | {done / clock.Elapsed.TotalSeconds:F1} |");
            report.Flush();
        }
    }
}
