using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Sape2.Benchmarks;

/// <summary>
/// CPU inference of one model served two ways in the same process — TorchSharp (the transformer's own path,
/// <see cref="ImageClassifier.PredictProbabilities"/>) and ONNX Runtime on the <see cref="Sape2Onnx"/> export — for Micro and
/// Tiny, SaPE²+APE and APE, 32×32 RGB, patch 4. Single-image latency (p50/p99 of <c>runs</c> calls, the two servers taking
/// turns in blocks so drift hits both) and batch-of-64 throughput. Weights are random: speed does not depend on them.
/// </summary>
internal static class OnnxBenchmark
{
    const int Batch = 64, Blocks = 4;

    public static void Run(TextWriter report, int runs)
    {
        report.WriteLine($"| model | encoding | TorchSharp 1 image p50 / p99 | ONNX Runtime 1 image p50 / p99 | ORT ÷ TorchSharp p50 | " +
            $"TorchSharp batch {Batch} | ONNX Runtime batch {Batch} | max score difference |");
        report.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var preset in new[] { VitPreset.Micro, VitPreset.Tiny })
            foreach (var (name, encoding) in new[] { ("SaPE²+APE", PositionEncodingKind.Sape2), ("APE", PositionEncodingKind.Absolute) })
                Row(report, preset, name, VitConfig.FromPreset(preset, 32, 4, 3, 10) with { PositionEncoding = encoding, AbsolutePosition = true },
                    runs);
    }

    static void Row(TextWriter report, VitPreset preset, string name, VitConfig config, int runs)
    {
        var format = new ImageFormat { Height = 32, Width = 32, Channels = 3 };
        using var classifier = new ImageClassifier(new VisionTransformer(config), format, Normalization.Default(3),
            Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray(), Array.Empty<EpochMetrics>());
        using var session = new InferenceSession(Sape2Onnx.Export(classifier));
        var random = new Random(1);
        var pixels = new byte[Batch * format.PixelCount];
        random.NextBytes(pixels);
        var one = pixels.AsSpan(0, format.PixelCount).ToArray();

        float[] Ort(byte[] images, int count) => InteropFixtures.RunOnnx(session, images, count, format).Scores;
        float[] Torch(byte[] images, int count) => classifier.PredictProbabilities(images, count);

        double difference = Torch(pixels, Batch).Zip(Ort(pixels, Batch), (a, b) => Math.Abs(a - b)).Max();
        for (int i = 0; i < 10; i++) { Torch(one, 1); Ort(one, 1); }   // warm-up: first calls allocate and pick kernels
        var torchTimes = new List<double>();
        var ortTimes = new List<double>();
        for (int block = 0; block < Blocks; block++)
        {
            torchTimes.AddRange(Times(() => Torch(one, 1), runs / Blocks));
            ortTimes.AddRange(Times(() => Ort(one, 1), runs / Blocks));
        }
        double torchBatch = Throughput(() => Torch(pixels, Batch)), ortBatch = Throughput(() => Ort(pixels, Batch));
        report.WriteLine($"| {preset} | {name} | {Percentile(torchTimes, 50):F2} / {Percentile(torchTimes, 99):F2} ms | " +
            $"{Percentile(ortTimes, 50):F2} / {Percentile(ortTimes, 99):F2} ms | {Percentile(ortTimes, 50) / Percentile(torchTimes, 50):F2} | " +
            $"{torchBatch:N0} img/s | {ortBatch:N0} img/s | {difference:E1} |");
    }

    static IEnumerable<double> Times(Action call, int count)
    {
        var times = new double[count];
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            call();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return times;
    }

    /// <summary>Images per second of <see cref="Batch"/>-image calls: the best of five, after one warm-up call.</summary>
    static double Throughput(Action call)
    {
        call();
        return Enumerable.Range(0, 5).Select(_ => Batch / (Times(call, 1).Single() / 1000)).Max();
    }

    static double Percentile(List<double> values, int percent)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(percent / 100.0 * sorted.Length) - 1)];
    }
}
