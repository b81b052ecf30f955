using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.SaPE2;
using Sape2.Cli;

namespace Sape2.Benchmarks;

/// <summary>
/// `photos`: a folder of photos in class sub-folders (train/ and test/ or val/), ML.NET's own pretrained-feature route —
/// <c>LoadImages → ResizeImages(224) → ExtractPixels → DnnFeaturizeImage(ResNet18) → LbfgsMaximumEntropy</c> — against this
/// library's default call, and then the position encodings on the hybrid grid over several seeds. Every fit runs in a child
/// process of its own, so each time and peak-memory figure is that fit's alone.
/// </summary>
internal static class PhotosBenchmark
{
    public static void Run(string dataRoot, IReadOnlyList<int> seeds, IReadOnlyList<string> encodings, TextWriter report)
    {
        var (trainFolder, testFolder) = Folders(dataRoot);
        report.WriteLine($"Data: `{Path.GetFileName(Path.TrimEndingDirectorySeparator(dataRoot))}`, {FolderRow.Read(trainFolder).Count} training / " +
            $"{FolderRow.Read(testFolder).Count} test photos; each fit in its own process.");
        report.WriteLine();
        report.WriteLine("| pipeline | seed | held-out accuracy | macro accuracy | `Fit` time | peak memory of its process |");
        report.WriteLine("|---|---|---|---|---|---|");
        report.Flush();
        var anchor = Child(report, "resnet18-lbfgs", dataRoot, 1);   // deterministic: one run
        var defaults = seeds.Select(seed => Child(report, "sape2", dataRoot, seed)).OfType<double>().ToList();
        if (defaults.Count > 0)
        {
            var summary = Summary.Of(defaults);
            var (low, high) = summary.IntervalWithin(0, 1);
            report.WriteLine();
            report.WriteLine($"Default call over {defaults.Count} seed(s): mean {summary.Mean:P1}" +
                (defaults.Count > 1 ? $" (95% interval {low:P1} – {high:P1}), lowest {defaults.Min():P1}" : "") +
                (anchor is { } a ? $"; ML.NET's ResNet18 features + LbfgsMaximumEntropy: {a:P1}." : "."));
            report.WriteLine();
            report.WriteLine("| pipeline | seed | held-out accuracy | macro accuracy | `Fit` time | peak memory of its process |");
            report.WriteLine("|---|---|---|---|---|---|");
        }
        var accuracy = new Dictionary<string, List<double>>();
        foreach (string encoding in encodings)
            foreach (int seed in seeds)
                if (Child(report, encoding, dataRoot, seed) is { } value)
                    (accuracy.TryGetValue(encoding, out var list) ? list : accuracy[encoding] = new()).Add(value);
        if (accuracy.Count < 2) return;
        report.WriteLine();
        report.WriteLine("| encoding on the hybrid grid | runs | mean held-out accuracy (95% interval) | " +
            "paired difference from the first (95% interval) |");
        report.WriteLine("|---|---|---|---|");
        var first = accuracy[encodings[0]];
        foreach (var (encoding, values) in accuracy)
        {
            var summary = Summary.Of(values);
            var (low, high) = summary.IntervalWithin(0, 1);
            string paired = "—";
            if (encoding != encodings[0] && values.Count == first.Count)
            {
                var difference = Summary.Of(values.Zip(first, (a, b) => a - b).ToList());
                var (dl, dh) = difference.IntervalWithin(-1, 1);
                paired = $"{difference.Mean * 100:+0.0;-0.0} points ({dl * 100:+0.0;-0.0} to {dh * 100:+0.0;-0.0})";
            }
            report.WriteLine($"| {encoding} | {values.Count} | {summary.Mean:P1} ({low:P1} – {high:P1}) | {paired} |");
        }
    }

    private static (string Train, string Test) Folders(string dataRoot)
    {
        string test = Path.Combine(dataRoot, "test");
        return (Path.Combine(dataRoot, "train"), Directory.Exists(test) ? test : Path.Combine(dataRoot, "val"));
    }

    /// <summary>Runs one fit in a child process and copies its row; returns its accuracy, or null when it failed.</summary>
    private static double? Child(TextWriter report, string pipeline, string dataRoot, int seed)
    {
        var start = ChildMode.StartInfo("photos-one", pipeline, dataRoot, seed.ToString(CultureInfo.InvariantCulture));
        start.RedirectStandardOutput = true;
        using var child = Process.Start(start)!;
        var lines = child.StandardOutput.ReadToEnd().Split('\n');
        child.WaitForExit();
        string row = lines.LastOrDefault(l => l.StartsWith("| ")) ?? "";
        string? value = lines.LastOrDefault(l => l.StartsWith("accuracy "))?.Split(' ')[1];
        report.WriteLine(child.ExitCode == 0 && row.Length > 0 ? row : $"| {pipeline} | {seed} | failed (exit code {child.ExitCode}) | | | |");
        report.Flush();
        return child.ExitCode == 0 && value is not null ? double.Parse(value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The child process: fits one pipeline on train/, scores the test photos, prints its row and its accuracy.</summary>
    public static void RunOne(string pipeline, string dataRoot, int seed)
    {
        var (trainFolder, testFolder) = Folders(dataRoot);
        var ml = new MLContext(seed: seed);
        var train = ml.Data.LoadFromEnumerable(FolderRow.Read(trainFolder));
        var test = ml.Data.LoadFromEnumerable(FolderRow.Read(testFolder));
        var label = ml.Transforms.Conversion.MapValueToKey("Label");
        IEstimator<ITransformer> estimator;
        string title;
        if (pipeline == "resnet18-lbfgs")
        {
            // ML.NET's documented DnnFeaturizeImage pipeline; ExtractPixels' defaults give the RGB values in [0, 255] the model takes.
            estimator = label.Append(ml.Transforms.LoadImages("ImageObject", null, "ImagePath"))
                .Append(ml.Transforms.ResizeImages("ImageObject", 224, 224))
                .Append(ml.Transforms.ExtractPixels("Pixels", "ImageObject"))
                .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"))
                .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy());
            title = "ML.NET ResNet18 features (`DnnFeaturizeImage`) + `LbfgsMaximumEntropy`";
        }
        else if (pipeline == "sape2")
        {
            estimator = label.Append(ml.Transforms.LoadRawImageBytes("Image", null, "ImagePath"))
                .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(labelColumnName: "Label", featureColumnName: "Image"));
            title = "SaPE² default call (`Sape2ImageClassification(\"Label\", \"Image\")`)";
        }
        else if (pipeline.StartsWith("options:", StringComparison.Ordinal))
        {
            // "options:Pooling=SequencePooling;EmaDecay=0.99": the default call with these options set (for recipe experiments).
            var options = new Sape2ImageClassificationTrainer.Options { LabelColumnName = "Label", FeatureColumnName = "Image", Seed = seed };
            foreach (var setting in pipeline["options:".Length..].Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                var (name, text) = (setting.Split('=')[0], setting.Split('=')[1]);
                var field = typeof(Sape2ImageClassificationTrainer.Options).GetField(name) ?? throw new ArgumentException($"No option {name}.");
                var type = Nullable.GetUnderlyingType(field.FieldType) ?? field.FieldType;
                field.SetValue(options, type.IsEnum ? Enum.Parse(type, text) : Convert.ChangeType(text, type, CultureInfo.InvariantCulture));
            }
            estimator = label.Append(ml.Transforms.LoadRawImageBytes("Image", null, "ImagePath"))
                .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(options));
            title = $"SaPE² default call with {pipeline["options:".Length..]}";
        }
        else
        {
            bool ape = pipeline.EndsWith("+APE", StringComparison.Ordinal);
            var kind = Enum.Parse<PositionEncodingKind>(ape ? pipeline[..^4] : pipeline);
            estimator = label.Append(ml.Transforms.LoadRawImageBytes("Image", null, "ImagePath"))
                .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(new Sape2ImageClassificationTrainer.Options
                {
                    LabelColumnName = "Label", FeatureColumnName = "Image", Tokenizer = TokenizerKind.PretrainedBackbone,
                    PositionEncoding = kind, AbsolutePosition = ape, Seed = seed,
                }));
            title = $"hybrid ResNet18 grid, {pipeline}";
        }
        var clock = Stopwatch.StartNew();
        var model = estimator.Fit(train);
        double seconds = clock.Elapsed.TotalSeconds;
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        using var process = Process.GetCurrentProcess();
        Console.WriteLine($"| {title} | {seed} | {metrics.MicroAccuracy:P1} | {metrics.MacroAccuracy:P1} | {seconds:F0} s | " +
            $"{process.PeakWorkingSet64 / (1 << 20):N0} MiB |");
        Console.WriteLine($"accuracy {metrics.MicroAccuracy.ToString("R", CultureInfo.InvariantCulture)}");
        (model as IDisposable)?.Dispose();
    }
}
