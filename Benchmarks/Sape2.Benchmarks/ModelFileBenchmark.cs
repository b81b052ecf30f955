using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2;
using SkiaSharp;

namespace Sape2.Benchmarks;

/// <summary>
/// `model-file`: saves a ViT-Small-sized SaPE² model.zip, loads it in a fresh child process (time, extra peak
/// memory against the weights' size, and the RSS given back by Dispose), and runs 100,000 predictions through one
/// prediction engine (RSS every 10,000).
/// </summary>
internal static class ModelFileBenchmark
{
    public sealed class Row { public byte[] Image { get; set; } = Array.Empty<byte>(); public string Label { get; set; } = ""; }
    public sealed class Prediction { public float[] Score { get; set; } = Array.Empty<float>(); }

    public static void Run(TextWriter report, bool withPredictions = true)
    {
        string folder = Directory.CreateTempSubdirectory("sape2-model-bench-").FullName;
        try
        {
            var ml = new MLContext(seed: 1);
            var rows = Enumerable.Range(0, 8).Select(i => new Row { Image = Png(i), Label = $"c{i % 2}" }).ToList();
            var data = ml.Data.LoadFromEnumerable(rows);
            var options = new Sape2ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label", FeatureColumnName = "Image", Preset = VitPreset.Small, Epochs = 1, BatchSize = 8,
                Augmentation = AugmentationOptions.None, Device = "cpu", Seed = 1,
            };
            var model = ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(options)).Fit(data);
            string zip = Path.Combine(folder, "small.zip");
            ml.Model.Save(model, data.Schema, zip);
            model.Dispose();
            long weights = new System.IO.Compression.ZipArchive(File.OpenRead(zip)).Entries.Single(e => e.FullName.EndsWith("SaPE2Weights")).Length;

            // Three fresh processes, median, after letting this process's libtorch worker threads go idle.
            GC.Collect();
            Thread.Sleep(3000);
            var runs = Enumerable.Range(0, 3).Select(_ =>
            {
                var start = ChildMode.StartInfo("model-file-load", zip);
                start.RedirectStandardOutput = true;
                var child = Process.Start(start)!;
                var figures = child.StandardOutput.ReadToEnd().Trim().Split(' ').Select(double.Parse).ToArray();
                child.WaitForExit();
                return (Seconds: figures[0], Extra: figures[1], Loaded: figures[2], Disposed: figures[3]);
            }).OrderBy(r => r.Seconds).ToList();
            double seconds = runs[1].Seconds, extra = runs[1].Extra;
            var median = runs[1];
            report.WriteLine($"| ViT-Small SaPE²+APE model.zip: weights entry | {weights / 1048576.0:F1} MiB |");
            report.WriteLine($"| load in a fresh process (MLContext.Model.Load, median of 3; runs: " +
                $"{string.Join(", ", runs.Select(r => r.Seconds.ToString("F2")))} s) | {seconds:F2} s |");
            report.WriteLine($"| extra peak memory while loading | {extra / 1048576.0:F0} MiB = {extra / weights:F2}× the weights |");

            report.WriteLine($"| same child: RSS with the model loaded → after Dispose | {median.Loaded / 1048576.0:F0} → " +
                $"{median.Disposed / 1048576.0:F0} MiB (−{(median.Loaded - median.Disposed) / 1048576.0:F0} MiB) |");
            if (withPredictions) PredictionMemory(report, ml, folder);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Child side: warm up torch, then time Model.Load and measure the peak-RSS increase.</summary>
    public static void LoadChild(string zip)
    {
        using (var warm = TorchSharp.torch.ones(1)) { }
        long before = Rss();
        var clock = Stopwatch.StartNew();
        var model = new MLContext().Model.Load(zip, out _);
        double seconds = clock.Elapsed.TotalSeconds;
        long peak = PeakRss();
        long loaded = Rss();
        ((IDisposable)model).Dispose();
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        Console.WriteLine($"{seconds:R} {peak - before} {loaded} {Rss()}");
    }

    private static void PredictionMemory(TextWriter report, MLContext ml, string folder)
    {
        var rows = Enumerable.Range(0, 8).Select(i => new Row { Image = Png(i), Label = $"c{i % 2}" }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = "Label", FeatureColumnName = "Image", Preset = VitPreset.Micro, Epochs = 1, BatchSize = 8,
            Augmentation = AugmentationOptions.None, Device = "cpu", Seed = 1,
        };
        using var model =
            ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(options)).Fit(data);
        using var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(model, new PredictionEngineOptions { OwnsTransformer = false });
        var samples = new List<string>();
        var clock = Stopwatch.StartNew();
        for (int i = 1; i <= 100_000; i++)
        {
            engine.Predict(rows[i % rows.Count]);
            if (i % 10_000 == 0) samples.Add($"{Rss() / 1048576.0:F0}");
        }
        report.WriteLine($"| 100,000 predictions, one engine (Micro, 32×32 PNG) | {clock.Elapsed.TotalSeconds:F0} s; RSS every 10,000 (MiB): " +
            $"{string.Join(", ", samples)} |");
    }

    internal static byte[] Png(int seed)
    {
        using var bitmap = new SKBitmap(32, 32);
        bitmap.Erase(new SKColor((byte)(seed * 40), (byte)(255 - seed * 30), 128));
        using var image = SKImage.FromBitmap(bitmap);
        return image.Encode(SKEncodedImageFormat.Png, 100).ToArray();
    }

    private static long Rss() => Status("VmRSS:");
    private static long PeakRss() => Status("VmHWM:");

    private static long Status(string key)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(key));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
