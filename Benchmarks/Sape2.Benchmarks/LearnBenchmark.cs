using System.Diagnostics;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Sape2.Benchmarks;

/// <summary>`learn`: a short training run on the embedded Fashion-MNIST subset, held-out accuracy per position encoding (and per
/// training precision, side by side, when several are asked for).</summary>
internal static class LearnBenchmark
{
    /// <summary>The architecture and recipe one `learn` run trains with; every field is a command-line flag.</summary>
    public sealed record Setup(int Epochs, double LearningRate, int BatchSize, int PatchSize)
    {
        public VitPreset Preset { get; init; } = VitPreset.Micro;
        public TokenizerKind Tokenizer { get; init; } = TokenizerKind.Patch;
        public PoolingKind Pooling { get; init; } = PoolingKind.ClassToken;
        public WeightInitialization Initialization { get; init; } = WeightInitialization.TruncatedNormal;
        public int EmbedDim { get; init; }
        public int Depth { get; init; }
        public int Heads { get; init; }
        public int Padding { get; init; } = 2;
        public bool Flip { get; init; }
        public double WeightDecay { get; init; } = 0.05;
        public double LabelSmoothing { get; init; }
        public double Warmup { get; init; } = 1;
        public double MixProbability { get; init; }
        public double Clip { get; init; } = 1;
        public string Device { get; init; } = "cpu";
        /// <summary>Comma-separated <see cref="TrainingPrecision"/> names, each trained in turn (text, so the setup prints readably).</summary>
        public string Precisions { get; init; } = nameof(TrainingPrecision.Float32);
    }

    public static void Run(string dataRoot, Setup setup, IEnumerable<PositionEncodingKind> kinds)
    {
        var format = new ImageFormat { Height = 28, Width = 28, Channels = 1 };
        var train = ImageFolder.Load(Path.Combine(dataRoot, "train"), format).Dataset;
        var test = ImageFolder.Load(Path.Combine(dataRoot, "test"), format, train.ClassNames).Dataset;
        Console.WriteLine($"learn: {train.Count} train / {test.Count} test images, {setup}, {Environment.ProcessorCount} cores");
        var precisions = setup.Precisions.Split(',').Select(Enum.Parse<TrainingPrecision>).ToList();
        foreach (var (kind, precision) in kinds.SelectMany(k => precisions.Select(p => (k, p))))
        {
            var architecture = VitConfig.FromPreset(setup.Preset, 28, setup.PatchSize, 1) with
            {
                PositionEncoding = kind, Tokenizer = setup.Tokenizer, Pooling = setup.Pooling, Initialization = setup.Initialization,
            };
            if (setup.EmbedDim > 0) architecture = architecture with { EmbedDim = setup.EmbedDim };
            if (setup.Depth > 0) architecture = architecture with { Depth = setup.Depth };
            if (setup.Heads > 0) architecture = architecture with { NumHeads = setup.Heads };
            var options = new TrainingOptions
            {
                Epochs = setup.Epochs, BatchSize = setup.BatchSize, LearningRate = setup.LearningRate, WarmupEpochs = setup.Warmup,
                    Device = setup.Device, Precision = precision, Seed = 1,
                WeightDecay = setup.WeightDecay, GradientClipNorm = setup.Clip, LabelSmoothing = setup.LabelSmoothing,
                Augmentation = AugmentationOptions.None with
                {
                    RandomCropPadding = setup.Padding, HorizontalFlip = setup.Flip,
                    MixupAlpha = setup.MixProbability > 0 ? 0.8 : 0, CutmixAlpha = setup.MixProbability > 0 ? 1.0 : 0,
                        MixProbability = setup.MixProbability,
                },
            };
            var clock = Stopwatch.StartNew();
            using var classifier = VisionTransformerTrainer.Fit(train, test, architecture, options).Classifier;
            var last = classifier.History[^1];
            Console.WriteLine($"  {kind,-10} {precision,-8} train loss {last.TrainLoss:F3} acc {last.TrainAccuracy:P1} | held-out acc " +
                $"{last.ValidationAccuracy:P1} (best {classifier.History.Max(h => h.ValidationAccuracy):P1}) | {clock.Elapsed.TotalSeconds:F0} s");
            Console.WriteLine("    per epoch: " + string.Join(" ", classifier.History.Select(h => $"{h.ValidationAccuracy * 100:F1}")));
        }
    }
}
