using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>`threads`: Micro SaPE²+APE CPU step time by libtorch thread count, to choose the default.</summary>
internal static class ThreadsBenchmark
{
    public static void Run(TextWriter report)
    {
        var config = VitConfig.FromPreset(VitPreset.Micro, 32, 4, 3, 10);
        report.WriteLine("| threads | ms/step (Micro SaPE²+APE, batch 128) |");
        report.WriteLine("|---|---|");
        var counts = new[] { 1, 2, 4, 8, 16 }.Where(n => n <= Environment.ProcessorCount).Append(Environment.ProcessorCount).Distinct();
        foreach (int threads in counts)
        {
            torch.set_num_threads(threads);
            var r = StepTimer.Measure("Micro", config, 128, CPU, warmup: 2, steps: 5);
            report.WriteLine($"| {threads} | {r.MillisecondsPerStep:F0} |");
        }
        report.Flush();
    }
}
