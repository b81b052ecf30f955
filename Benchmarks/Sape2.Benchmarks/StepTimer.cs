using System.Diagnostics;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using Microsoft.ML.SaPE2.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Sape2.Benchmarks;

/// <summary>Times full training steps (forward, backward, AdamW) on synthetic data already on the device (nanoGPT bench.py style: burn in, then
/// measure, synchronising before reading the clock).</summary>
internal static class StepTimer
{
    public sealed record Result(string Name, double MillisecondsPerStep, double ImagesPerSecond);

    /// <summary>A model to time: its architecture, training precision, and whether SaPE² runs in its plain autograd form.</summary>
    public sealed record Variant(string Name, VitConfig Config, TrainingPrecision Precision = TrainingPrecision.Float32, bool PlainSape2 = false);

    public static Result Measure(string name, VitConfig config, int batchSize, Device device, int warmup, int steps) =>
        MeasureInterleaved(new[] { (name, config) }, batchSize, device, warmup, rounds: 1, stepsPerRound: steps)[0];

    /// <summary>
    /// Times several models side by side: after a burn-in, each round runs <paramref name="stepsPerRound"/> steps of
    /// every model in turn, and each model's figure is its median round. Machine drift then hits all models alike.
    /// </summary>
    public static List<Result> MeasureInterleaved(IReadOnlyList<(string Name, VitConfig Config)> runs, int batchSize, Device device, int warmup,
        int rounds, int stepsPerRound) =>
        MeasureInterleaved(runs.Select(r => new Variant(r.Name, r.Config)).ToList(), batchSize, device, warmup, rounds, stepsPerRound);

    /// <inheritdoc cref="MeasureInterleaved(IReadOnlyList{ValueTuple{string, VitConfig}}, int, Device, int, int, int)"/>
    public static List<Result> MeasureInterleaved(IReadOnlyList<Variant> runs, int batchSize, Device device, int warmup, int rounds,
        int stepsPerRound)
    {
        var rigs = runs.Select(r => new Rig(r, batchSize, device)).ToList();
        try
        {
            foreach (var rig in rigs) rig.Steps(warmup);
            var times = rigs.ToDictionary(r => r, _ => new List<double>());
            for (int round = 0; round < rounds; round++)
                foreach (var rig in rigs)
                {
                    Synchronize(device);
                    var clock = Stopwatch.StartNew();
                    rig.Steps(stepsPerRound);
                    Synchronize(device);
                    times[rig].Add(clock.Elapsed.TotalMilliseconds / stepsPerRound);
                }
            return rigs.Select(r =>
            {
                var sorted = times[r].Order().ToList();
                double ms = sorted[sorted.Count / 2];
                return new Result(r.Name, ms, batchSize * 1000.0 / ms);
            }).ToList();
        }
        finally
        {
            rigs.ForEach(r => r.Dispose());
        }
    }

    /// <summary>A model, its optimiser and a fixed synthetic batch on the device.</summary>
    private sealed class Rig : IDisposable
    {
        private readonly VisionTransformer model;
        private readonly OptimizationStep stepper;
        private readonly Tensor images, labels, targets;

        public Rig(Variant variant, int batchSize, Device device)
        {
            Name = variant.Name;
            var config = variant.Config;
            torch.manual_seed(0);
            model = new VisionTransformer(config);
            foreach (var sape2 in model.modules().OfType<Sape2Attention>())
                sape2.PlainForm = variant.PlainSape2;
            model.to(device);
            model.train();
            stepper = new OptimizationStep(model, 1e-4, 0.05, 1.0, variant.Precision);
            images = randn(batchSize, config.InChannels, config.ImageHeight, config.ImageWidth, device: device).DetachFromDisposeScope();
            labels = randint(config.NumClasses, batchSize, device: device).DetachFromDisposeScope();
            targets = nn.functional.one_hot(labels, config.NumClasses).to(ScalarType.Float32).DetachFromDisposeScope();
        }

        public string Name { get; }

        public void Steps(int count)
        {
            for (int i = 0; i < count; i++) stepper.Run(images, targets, labels, 1e-4);
        }

        public void Dispose()
        {
            stepper.Dispose();
            model.Dispose();
            images.Dispose(); labels.Dispose(); targets.Dispose();
        }
    }

    public static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }

    /// <summary>The position encodings the paper compares, by the names used in its table.</summary>
    public static IEnumerable<(string Name, VitConfig Config)> Encodings(VitConfig baseConfig)
    {
        yield return ("None", baseConfig with { PositionEncoding = PositionEncodingKind.None });
        yield return ("APE", baseConfig with { PositionEncoding = PositionEncodingKind.Absolute });
        yield return ("Sincos2D", baseConfig with { PositionEncoding = PositionEncodingKind.Sincos2D });
        yield return ("RoPE-Axial+APE", baseConfig with { PositionEncoding = PositionEncodingKind.RopeAxial });
        yield return ("RoPE-Mixed+APE", baseConfig with { PositionEncoding = PositionEncodingKind.RopeMixed });
        yield return ("CoPE+APE", baseConfig with { PositionEncoding = PositionEncodingKind.Cope });
        yield return ("SaPE2", baseConfig with { PositionEncoding = PositionEncodingKind.Sape2, AbsolutePosition = false });
        yield return ("SaPE2+APE", baseConfig with { PositionEncoding = PositionEncodingKind.Sape2 });
    }
}
