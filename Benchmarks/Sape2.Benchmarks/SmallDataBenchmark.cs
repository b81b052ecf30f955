using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.MLNet;
using Microsoft.ML.Transforms.Image;

namespace Sape2.Benchmarks;

/// <summary>
/// `small-data`: the SaPE² trainer called with nothing but its column names, against what an ML.NET user picks
/// instead on raw pixels — LightGbm and SdcaMaximumEntropy with default settings — on the same images, in the same
/// run, on the same machine. Every trainer fits on train/ and is scored on test/ of an image folder.
/// </summary>
internal static class SmallDataBenchmark
{
    private sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public static void Run(string dataRoot, IReadOnlyCollection<string> trainers, int pixelSide, TextWriter report)
    {
        string trainFolder = Path.Combine(dataRoot, "train"), testFolder = Path.Combine(dataRoot, "test");
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows(trainFolder));
        var test = ml.Data.LoadFromEnumerable(Rows(testFolder));
        report.WriteLine($"Data: `{Path.GetFileName(dataRoot)}`, {train.GetRowCount()} training / {test.GetRowCount()} test images; every trainer with default settings.");
        report.WriteLine();
        report.WriteLine("| trainer | held-out accuracy | macro accuracy | log-loss | `Fit` time |");
        report.WriteLine("|---|---|---|---|---|");
        report.Flush();
        foreach (string name in trainers)
        {
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
            report.WriteLine($"| {title} | {metrics.MicroAccuracy:P1} | {metrics.MacroAccuracy:P1} | {metrics.LogLoss:F3} | {seconds:F0} s |");
            report.Flush();
            (model as IDisposable)?.Dispose();
        }
    }

    private static IEnumerable<ImageRow> Rows(string folder) =>
        Directory.GetDirectories(folder).OrderBy(d => d, StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).OrderBy(f => f, StringComparer.Ordinal).Select(f => new ImageRow { ImagePath = f, Label = Path.GetFileName(d) }))
            .ToList();

    // The baseline: LoadImages → ResizeImages → ConvertToGrayscale → ExtractPixels(scale 1/255), as ML.NET's docs show.
    private static EstimatorChain<ImagePixelExtractingTransformer> Pixels(MLContext ml, int side) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", side, side))
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255));
}
