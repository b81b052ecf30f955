using System.Diagnostics;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Sape2.Benchmarks;

/// <summary>`learn`: a short training run on the embedded Fashion-MNIST subset, held-out accuracy per position encoding.</summary>
internal static class LearnBenchmark
{
    public static void Run(string dataRoot, int epochs, double lr, IEnumerable<PositionEncodingKind> kinds, int batchSize, int patchSize)
    {
        var format = new ImageFormat { Height = 28, Width = 28, Channels = 1 };
        var train = ImageFolder.Load(Path.Combine(dataRoot, "train"), format).Dataset;
        var test = ImageFolder.Load(Path.Combine(dataRoot, "test"), format, train.ClassNames).Dataset;
        Console.WriteLine($"learn: {train.Count} train / {test.Count} test images, {epochs} epochs, lr {lr}, batch {batchSize}, patch {patchSize}, {Environment.ProcessorCount} cores");
        foreach (var kind in kinds)
        {
            var architecture = VitConfig.FromPreset(VitPreset.Micro, 28, patchSize, 1) with { PositionEncoding = kind };
            var options = new TrainingOptions
            {
                Epochs = epochs, BatchSize = batchSize, LearningRate = lr, WarmupEpochs = 1, Device = "cpu", Seed = 1,
                Augmentation = AugmentationOptions.None with { RandomCropPadding = 2 }, LabelSmoothing = 0,
            };
            var clock = Stopwatch.StartNew();
            using var classifier = VisionTransformerTrainer.Fit(train, test, architecture, options).Classifier;
            var last = classifier.History[^1];
            Console.WriteLine($"  {kind,-10} train loss {last.TrainLoss:F3} acc {last.TrainAccuracy:P1} | held-out acc {last.ValidationAccuracy:P1} (best {classifier.History.Max(h => h.ValidationAccuracy):P1}) | {clock.Elapsed.TotalSeconds:F0} s");
        }
    }
}
