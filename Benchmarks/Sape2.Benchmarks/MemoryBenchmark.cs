using System.Diagnostics;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Sape2.Benchmarks;

/// <summary>
/// Checks <see cref="MemoryEstimate"/> against what training really holds: each configuration trains for one epoch
/// of random images in a child process of its own, which reports its resident set before the fit and its peak
/// (VmHWM) after it. The estimate should stay above the measured growth without being far above it.
/// </summary>
internal static class MemoryBenchmark
{
    private static readonly string[] Configurations =
    {
        "Micro,Sape2,Convolutional,28,4,64", "Micro,Sape2,Patch,32,4,128", "Micro,Sape2,Patch,64,4,32", "Micro,Absolute,Patch,64,4,32",
        "Tiny,Sape2,Patch,32,4,64", "Micro,Sape2,Convolutional,128,8,16",
    };

    public static void Run(TextWriter report)
    {
        report.WriteLine("| preset, encoding, tokenizer, side, pixels a token, batch | tokens | weights + activations: estimated | " +
            "measured growth (peak − before fit) | whole estimate (with the runtime allowance) | measured peak resident | whole / peak |");
        report.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var configuration in Configurations)
        {
            var start = ChildMode.StartInfo("memory-one", configuration);
            start.RedirectStandardOutput = true;
            using var child = Process.Start(start)!;
            string line = child.StandardOutput.ReadToEnd().Trim().Split('\n')[^1];
            child.WaitForExit();
            report.WriteLine(child.ExitCode == 0 ? line : $"| {configuration} | failed with exit code {child.ExitCode} | | | | | |");
        }
    }

    /// <summary>The child: one configuration, one epoch, one Markdown row.</summary>
    public static void RunOne(string configuration)
    {
        var parts = configuration.Split(',');
        int side = int.Parse(parts[3]), batch = int.Parse(parts[5]), images = 4 * batch;
        var config = VitConfig.FromPreset(Enum.Parse<VitPreset>(parts[0]), side, int.Parse(parts[4]), inChannels: 3, numClasses: 10) with
        {
            PositionEncoding = Enum.Parse<PositionEncodingKind>(parts[1]), Tokenizer = Enum.Parse<TokenizerKind>(parts[2]),
        };
        var format = new ImageFormat { Height = side, Width = side, Channels = 3 };
        var pixels = new byte[images * format.PixelCount];
        new Random(1).NextBytes(pixels);
        var labels = Enumerable.Range(0, images).Select(i => i % 10).ToArray();
        var data = new ImageDataset(format, pixels, labels, Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray());
        var options = new TrainingOptions { Epochs = 1, BatchSize = batch, Device = "cpu", Augmentation = AugmentationOptions.None };
        using (TorchSharp.torch.ones(8, 8).matmul(TorchSharp.torch.ones(8, 8))) { }   // libtorch loaded before the baseline
        long before = ProcessMemory.Bytes("VmRSS");
        using var result = VisionTransformerTrainer.Fit(data, null, config, options).Classifier;
        long peak = ProcessMemory.Bytes("VmHWM");
        var estimate = MemoryEstimate.ForTraining(config with { ImageHeight = side, ImageWidth = side }, batch, 0, ema: false);
        long predicted = estimate.ParameterBytes + estimate.ActivationBytes;
        Console.WriteLine($"| {configuration.Replace(",", ", ")} | {config.GridHeight}×{config.GridWidth} | {MemoryEstimate.Format(predicted)} | " +
            $"{MemoryEstimate.Format(peak - before)} | {MemoryEstimate.Format(estimate.TotalBytes)} | {MemoryEstimate.Format(peak)} | " +
                $"{estimate.TotalBytes / (double)peak:F2} |");
    }
}
