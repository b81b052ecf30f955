using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>
/// `gpu-speed`: CUDA training throughput, forward + backward + AdamW on synthetic batches already on the
/// GPU, side by side in one run — APE alone, SaPE²+APE fused (this library's form) and SaPE²+APE in its plain autograd form (the
/// form before the fused rewrite) — for ViT-S/4 and ViT-Ti/4 at 32×32, batch 128 and 512; then fp32 against bf16 mixed precision for
/// ViT-S/16 at 224×224, batch 256. GPU memory in use after each variant's run alone is reported (cudaMemGetInfo after the
/// caching allocator's peak reservation, cumulative over the variants run before it in the same process). `--smoke` runs the same
/// tables with Micro models, batch 8 and 64×64 images on the CPU: a check that the program works, not a measurement.
/// </summary>
internal static class GpuSpeedBenchmark
{
    public static int Run(TextWriter report, int rounds, bool smoke)
    {
        if (!smoke && !cuda.is_available()) { Console.Error.WriteLine("gpu-speed: CUDA is not available to TorchSharp."); return 3; }
        var device = smoke ? CPU : CUDA;
        var runs = smoke ? new[] { (VitPreset.Micro, 8) } : new[] { (VitPreset.Small, 128), (VitPreset.Tiny, 128), (VitPreset.Small, 512) };
        foreach (var (preset, batch) in runs)
        {
            var config = VitConfig.FromPreset(preset, 32, 4, 3, 10);
            GpuBenchmark.Table(report, $"{preset}/4, 32×32, batch {batch}, fp32", device, batch, rounds, new[]
            {
                new StepTimer.Variant("APE", config with { PositionEncoding = PositionEncodingKind.Absolute }),
                new StepTimer.Variant("SaPE²+APE", config with { PositionEncoding = PositionEncodingKind.Sape2 }),
                new StepTimer.Variant("SaPE²+APE, plain autograd form", config with { PositionEncoding = PositionEncodingKind.Sape2 },
                    PlainSape2: true),
            }, reference: "APE");
        }
        var large = smoke ? VitConfig.FromPreset(VitPreset.Micro, 64, 16, 3, 1000) : VitConfig.FromPreset(VitPreset.Small, 224, 16, 3, 1000);
        GpuBenchmark.Table(report, $"{large.EmbedDim}-wide /16, {large.ImageHeight}×{large.ImageWidth}: fp32 against bf16 mixed precision", device,
            smoke ? 8 : 256, rounds, new[]
        {
            new StepTimer.Variant("APE fp32", large with { PositionEncoding = PositionEncodingKind.Absolute }),
            new StepTimer.Variant("APE bf16", large with { PositionEncoding = PositionEncodingKind.Absolute }, TrainingPrecision.BFloat16),
            new StepTimer.Variant("SaPE²+APE fp32", large with { PositionEncoding = PositionEncodingKind.Sape2 }),
            new StepTimer.Variant("SaPE²+APE bf16", large with { PositionEncoding = PositionEncodingKind.Sape2 }, TrainingPrecision.BFloat16),
        }, reference: "APE fp32");
        return 0;
    }
}
