using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>`train-step`: CPU step time per position encoding for Micro and Tiny, as a ratio to APE measured in the same run.</summary>
internal static class TrainStepBenchmark
{
    public static void Run(IEnumerable<(VitPreset Preset, int Batch, int StepsPerRound)> plan, Device device, TextWriter report)
    {
        foreach (var (preset, batch, steps) in plan)
        {
            var config = VitConfig.FromPreset(preset, imageSize: 32, patchSize: 4, inChannels: 3, numClasses: 10);
            report.WriteLine($"### {preset} (dim {config.EmbedDim}, depth {config.Depth}, heads {config.NumHeads}), 32×32, patch 4, batch " +
                $"{batch}, {device.type}, {torch.get_num_threads()} threads, median of 5 interleaved rounds");
            report.WriteLine();
            report.WriteLine("| encoding | ms/step | images/s | step time ÷ APE |");
            report.WriteLine("|---|---|---|---|");
            var results = StepTimer.MeasureInterleaved(StepTimer.Encodings(config).ToList(), batch, device, warmup: 1, rounds: 5,
                stepsPerRound: steps);
            double ape = results.Single(r => r.Name == "APE").MillisecondsPerStep;
            foreach (var r in results)
                report.WriteLine($"| {r.Name} | {r.MillisecondsPerStep:F1} | {r.ImagesPerSecond:F0} | {r.MillisecondsPerStep / ape:F2} |");
            report.WriteLine();
            report.Flush();
        }
    }
}
