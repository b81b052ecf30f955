using System.Runtime.InteropServices;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
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
        foreach (var preset in new[] { VitPreset.Tiny, VitPreset.Small })
        {
            var config = VitConfig.FromPreset(preset, 32, 4, 3, 10);
            Table(report, $"{preset}, 32×32, patch 4, batch 128, fp32", device, 128, 5,
                StepTimer.Encodings(config).Select(e => new StepTimer.Variant(e.Name, e.Config)).ToArray(), "APE");
        }
        report.WriteLine("#### Loader beside the CUDA step");
        report.WriteLine();
        PipelineBenchmark.Run(device, VitPreset.Tiny, 128, report);
        return 0;
    }

    /// <summary>The GPU's model as the NVIDIA driver names it (TorchSharp exposes no device name).</summary>
    private static string GpuName()
    {
        var info = Directory.Exists("/proc/driver/nvidia/gpus")
            ? Directory.GetDirectories("/proc/driver/nvidia/gpus").Select(d => Path.Combine(d, "information")).FirstOrDefault(File.Exists) : null;
        string? model = info is null ? null : File.ReadLines(info).FirstOrDefault(l => l.StartsWith("Model:", StringComparison.Ordinal));
        return model?["Model:".Length..].Trim() ?? "CUDA device 0";
    }

    /// <summary>
    /// One table of CUDA (or, for a smoke run, CPU) training steps: each variant run alone first for the GPU memory it leaves in use,
    /// then all side by side (median of <paramref name="rounds"/> interleaved rounds), as a ratio to <paramref name="reference"/>.
    /// </summary>
    internal static void Table(TextWriter report, string title, Device device, int batch, int rounds, StepTimer.Variant[] variants,
        string reference)
    {
        report.WriteLine($"### {title}, forward + backward + AdamW, {(device.type == DeviceType.CUDA ? GpuName() : "CPU (smoke run)")}");
        report.WriteLine();
        var memory = new Dictionary<string, string>();
        foreach (var variant in variants)
        {
            StepTimer.MeasureInterleaved(new[] { variant }, batch, device, warmup: 3, rounds: 1, stepsPerRound: 3);
            memory[variant.Name] = device.type == DeviceType.CUDA ? UsedGpuMemoryMiB() : "n/a (CPU)";
        }
        var results = StepTimer.MeasureInterleaved(variants, batch, device, warmup: 5, rounds: rounds, stepsPerRound: 10);
        double first = results.Single(r => r.Name == reference).MillisecondsPerStep;
        report.WriteLine($"| variant | ms/step | images/s | step time ÷ {reference} | GPU memory in use after its run alone (cumulative) |");
        report.WriteLine("|---|---|---|---|---|");
        foreach (var r in results)
            report.WriteLine($"| {r.Name} | {r.MillisecondsPerStep:F1} | {r.ImagesPerSecond:F0} | {r.MillisecondsPerStep / first:F2} | " +
                $"{memory[r.Name]} |");
        report.WriteLine();
        report.Flush();
    }

    private static string UsedGpuMemoryMiB() =>
        Microsoft.ML.SaPE2.Native.CudaMemory.Query() is { } memory ? $"{(memory.Total - memory.Free) / (1024.0 * 1024):F0} MiB"
            : "n/a (no libcudart found)";
}
