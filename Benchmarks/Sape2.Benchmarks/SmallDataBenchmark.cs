using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2;
using Microsoft.ML.Transforms.Image;

namespace Sape2.Benchmarks;

/// <summary>
/// `small-data`: the SaPE² trainer called with nothing but its column names, against what an ML.NET user picks
/// instead on raw pixels — LightGbm and SdcaMaximumEntropy with default settings — on the same images, in the same
/// run, on the same machine. Every trainer fits on train/ and is scored on test/ of an image folder.
/// </summary>
internal static class SmallDataBenchmark
{
    /// <summary>
    /// Runs each trainer in a child process of its own (so each memory figure is that trainer's, and the native
    /// libraries of libtorch and LightGBM, both OpenMP, never share a process) and prints one Markdown row each.
    /// </summary>
    public static void Run(string dataRoot, IReadOnlyCollection<string> trainers, int pixelSide, TextWriter report)
    {
        string trainFolder = Path.Combine(dataRoot, "train"), testFolder = Path.Combine(dataRoot, "test");
        report.WriteLine($"Data: `{Path.GetFileName(dataRoot)}`, {FolderRow.Read(trainFolder).Count} training / " +
            $"{FolderRow.Read(testFolder).Count} test images; " +
            $"every trainer with default settings, each in its own process.");
        report.WriteLine();
        report.WriteLine("| trainer | held-out accuracy | macro accuracy | log-loss | `Fit` time | peak memory of its process |");
        report.WriteLine("|---|---|---|---|---|---|");
        report.Flush();
        foreach (string name in trainers)
        {
            var start = ChildMode.StartInfo("small-data-one", name, dataRoot, pixelSide.ToString());
            start.RedirectStandardOutput = true;
            using var child = Process.Start(start)!;
            string row = child.StandardOutput.ReadToEnd().Split('\n').LastOrDefault(l => l.StartsWith("| ")) ?? "";
            child.WaitForExit();
            report.WriteLine(child.ExitCode == 0 && row.Length > 0 ? row : $"| {name} | failed (exit code {child.ExitCode}) | | | | |");
            report.Flush();
        }
    }

    /// <summary>The child process: fits one trainer, scores test/, prints its row.</summary>
    public static void RunOne(string name, string dataRoot, int pixelSide)
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(FolderRow.Read(Path.Combine(dataRoot, "train")));
        var test = ml.Data.LoadFromEnumerable(FolderRow.Read(Path.Combine(dataRoot, "test")));
        IEstimator<ITransformer> pipeline = name switch
        {
            "sape2" => ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.Transforms.LoadRawImageBytes("Image", null, "ImagePath"))
                .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(labelColumnName: "Label", featureColumnName: "Image")),
            "lightgbm" => Pixels(ml, pixelSide).Append(ml.MulticlassClassification.Trainers.LightGbm()),
            "sdca" => Pixels(ml, pixelSide).Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy()),
            _ => throw new ArgumentException($"Unknown trainer '{name}': use sape2, lightgbm or sdca."),
        };
        var clock = Stopwatch.StartNew();
        var model = pipeline.Fit(train);
        double seconds = clock.Elapsed.TotalSeconds;
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        string title = name switch
        {
            "sape2" => "SaPE² (`Sape2ImageClassification(\"Label\", \"Image\")`)",
            "lightgbm" => $"ML.NET LightGbm on {pixelSide}×{pixelSide} pixels",
            _ => $"ML.NET SdcaMaximumEntropy on {pixelSide}×{pixelSide} pixels",
        };
        using var process = Process.GetCurrentProcess();
        Console.WriteLine($"| {title} | {metrics.MicroAccuracy:P1} | {metrics.MacroAccuracy:P1} | {metrics.LogLoss:F3} | {seconds:F0} s | " +
            $"{process.PeakWorkingSet64 / (1 << 20):N0} MiB |");
        (model as IDisposable)?.Dispose();
    }

    // The baseline: LoadImages → ResizeImages → ConvertToGrayscale → ExtractPixels(scale 1/255), as ML.NET's docs show.
    private static EstimatorChain<ImagePixelExtractingTransformer> Pixels(MLContext ml, int side) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", side, side))
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255));
}
