using System.Diagnostics;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>
/// `pipeline`: images per second the batch loader sustains alone (default augmentation, 32×32 RGB, batch 128),
/// next to the training step rate it must feed, measured in the same run.
/// </summary>
internal static class PipelineBenchmark
{
    public static double LoaderImagesPerSecond(int images, int batchSize, int workers, bool pinMemory)
    {
        var format = new ImageFormat { Height = 32, Width = 32, Channels = 3 };
        var random = new Random(0);
        var pixels = new byte[images * format.PixelCount];
        random.NextBytes(pixels);
        var data = new ImageDataset(format, pixels, Enumerable.Range(0, images).Select(i => i % 10).ToArray(),
            Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray());
        var loader = new BatchLoader(data, new LoaderOptions { BatchSize = batchSize, Training = true, Workers = workers, PinMemory = pinMemory,
            LabelSmoothing = 0.1 });
        foreach (var b in loader.Epoch(0).Take(2)) b.Dispose();   // burn in
        var clock = Stopwatch.StartNew();
        int seen = 0;
        foreach (var b in loader.Epoch(1)) { seen += b.Count; b.Dispose(); }
        return seen / clock.Elapsed.TotalSeconds;
    }

    public static void Run(Device device, VitPreset preset, int batchSize, TextWriter report)
    {
        int workers = Environment.ProcessorCount;
        double loader = LoaderImagesPerSecond(images: 40 * batchSize, batchSize, workers, pinMemory: device.type == DeviceType.CUDA);
        var config = VitConfig.FromPreset(preset, 32, 4, 3, 10) with { PositionEncoding = PositionEncodingKind.Sape2 };
        var step = StepTimer.Measure($"{preset} SaPE2+APE", config, batchSize, device, warmup: 2, steps: device.type == DeviceType.CUDA ? 20 : 5);
        report.WriteLine($"| loader alone ({workers} workers, default augmentation) | {loader:F0} images/s |");
        report.WriteLine($"| {preset} SaPE²+APE training step, batch {batchSize}, {device.type} | {step.ImagesPerSecond:F0} images/s |");
        report.WriteLine($"| loader ÷ step | {loader / step.ImagesPerSecond:F1}× |");
        report.Flush();
    }
}
