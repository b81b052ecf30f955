using System.Runtime.InteropServices;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>
/// `gpu`: CUDA training throughput of Tiny and Small at 32×32, batch 128, fp32, per position encoding, the
/// SaPE²/APE step-time ratio, GPU memory in use after the run (cudaMemGetInfo: the caching allocator keeps its peak
/// reservation), and the loader's rate beside the Tiny step. bf16 mixed precision and the fused/plain SaPE² forms: `gpu-speed`.
/// </summary>
internal static class GpuBenchmark
{
    public static int Run(TextWriter report)
    {
        if (!cuda.is_available()) { Console.Error.WriteLine("gpu: CUDA is not available to TorchSharp."); return 3; }
        var device = CUDA;
        var memory = new Dictionary<string, string>();
        foreach (var preset in new[] { VitPreset.Tiny, VitPreset.Small })
        {
            var config = VitConfig.FromPreset(preset, 32, 4, 3, 10);
            report.WriteLine($"### {preset}, 32×32, patch 4, batch 128, fp32, forward+backward+AdamW");
            report.WriteLine();
            report.WriteLine("| encoding | ms/step | images/s | step time ÷ APE | GPU memory in use after its run alone (cumulative peak) |");
            report.WriteLine("|---|---|---|---|---|");
            foreach (var (name, encoding) in StepTimer.Encodings(config))
            {
                // Alone first, for the memory figure of this encoding (the allocator keeps its peak reservation).
                StepTimer.Measure(name, encoding, 128, device, warmup: 3, steps: 3);
                memory[name] = UsedGpuMemoryMiB();
            }
            var results = StepTimer.MeasureInterleaved(StepTimer.Encodings(config).ToList(), 128, device, warmup: 5, rounds: 5, stepsPerRound: 10);
            double ape = results.Single(r => r.Name == "APE").MillisecondsPerStep;
            foreach (var r in results)
                report.WriteLine($"| {r.Name} | {r.MillisecondsPerStep:F1} | {r.ImagesPerSecond:F0} | {r.MillisecondsPerStep / ape:F2} | " +
                    $"{memory[r.Name]} |");
            report.Flush();
            report.WriteLine();
        }
        report.WriteLine("#### Loader beside the CUDA step");
        report.WriteLine();
        PipelineBenchmark.Run(device, VitPreset.Tiny, 128, report);
        return 0;
    }

    internal static string UsedGpuMemoryMiB() =>
        Microsoft.ML.SaPE2.Native.CudaMemory.Query() is { } memory ? $"{(memory.Total - memory.Free) / (1024.0 * 1024):F0} MiB"
            : "n/a (no libcudart found)";
}
