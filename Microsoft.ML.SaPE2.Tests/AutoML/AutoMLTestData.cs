using Microsoft.ML.SaPE2.AutoML;
using SkiaSharp;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>Tiny grayscale images an experiment learns in seconds, and a row type that counts image reads.</summary>
internal static class AutoMLTestData
{
    public sealed class CountingRow
    {
        private static int reads;
        private readonly byte[] image = Array.Empty<byte>();
        public static int Reads => Volatile.Read(ref reads);
        public static void ResetReads() => Interlocked.Exchange(ref reads, 0);

        public string Label { get; set; } = "";
        public byte[] Image
        {
            get { Interlocked.Increment(ref reads); return image; }
            init => image = value;
        }
    }

    /// <summary><paramref name="classes"/> classes of 16×16 PNGs: a bright square in a class-specific corner, with noise.</summary>
    public static IDataView Images(MLContext ml, int classes, int perClass, int seed = 1) => Keyed(ml, Rows(classes, perClass, seed));

    /// <summary>Rows with text labels mapped to keys, as <see cref="Images"/> gives them.</summary>
    public static IDataView Keyed(MLContext ml, IReadOnlyList<CountingRow> rows)
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        return ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
    }

    /// <summary>The rows of <see cref="Images"/>, before their labels are keyed.</summary>
    public static List<CountingRow> Rows(int classes, int perClass, int seed = 1)
    {
        var random = new Random(seed);
        var rows = new List<CountingRow>();
        for (int i = 0; i < perClass; i++)
            for (int c = 0; c < classes; c++)
            {
                using var bitmap = new SKBitmap(new SKImageInfo(16, 16, SKColorType.Gray8));
                for (int y = 0; y < 16; y++)
                    for (int x = 0; x < 16; x++)
                    {
                        bool inside = x / 8 == c % 2 && y / 8 == c / 2 % 2;
                        bitmap.SetPixel(x, y, Gray(inside ? 200 : 40, random));
                    }
                using var encoded = SKImage.FromBitmap(bitmap).Encode(SKEncodedImageFormat.Png, 100);
                rows.Add(new CountingRow { Label = $"class{c}", Image = encoded.ToArray() });
            }
        return rows;
    }

    private static SKColor Gray(int level, Random random)
    {
        byte v = (byte)Math.Clamp(level + random.Next(-30, 31), 0, 255);
        return new SKColor(v, v, v);
    }

    /// <summary>An experiment on <paramref name="data"/> with a trainer template for 16×16 grayscale images on the CPU.</summary>
    public static Sape2Experiment Experiment(MLContext ml, IDataView data, int seed = 11) =>
        ml.Sape2Auto().CreateExperiment().SetDataset(data).SetColumns("Label", "Image").SetSeed(seed)
            .SetTrainerOptions(new Sape2ImageClassificationTrainer.Options { ImageSize = 16, Channels = 1, BatchSize = 16, Device = "cpu" });

    /// <summary>A monitor made of callbacks.</summary>
    public sealed class RecordingMonitor : ISape2Monitor
    {
        public Action<Sape2TrialSettings>? Running { get; init; }
        public Action<Sape2TrialSettings, TrainingProgress>? Epoch { get; init; }
        public Action<Sape2TrialSettings, Exception>? Failed { get; init; }
        public List<string> Events { get; } = new();

        public void ReportRunningTrial(Sape2TrialSettings settings) { Events.Add($"running {settings.TrialId}"); Running?.Invoke(settings); }
        public void ReportEpoch(Sape2TrialSettings settings, TrainingProgress progress) => Epoch?.Invoke(settings, progress);
        public void ReportCompletedTrial(Sape2TrialResult result) => Events.Add($"completed {result.TrialId}");
        public void ReportPrunedTrial(Sape2TrialResult result) => Events.Add($"pruned {result.TrialId}");
        public void ReportFailTrial(Sape2TrialSettings settings, Exception exception)
        {
            Events.Add($"failed {settings.TrialId}");
            Failed?.Invoke(settings, exception);
        }
        public void ReportBestTrial(Sape2TrialResult result) => Events.Add($"best {result.TrialId}");
    }
}
