using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;

namespace Sape2.Benchmarks;

/// <summary>
/// `cuda-to-cpu`: trains a SaPE² model on CUDA through the ML.NET trainer, saves model.zip and scores images with
/// it there; then a child process that sees no GPU (CUDA_VISIBLE_DEVICES empty) loads the file and scores the same images on the
/// CPU. Passes when every image's top-1 agrees and every score is within 1e-4; exits non-zero otherwise. `--device cpu` runs the
/// same check with a CPU-trained model (the check's own test, on any machine).
/// </summary>
internal static class CudaToCpuCheck
{
    private const double Tolerance = 1e-4;

    public static int Run(TextWriter report, string device)
    {
        if (device.StartsWith("cuda", StringComparison.Ordinal) && !TorchSharp.torch.cuda.is_available())
        {
            Console.Error.WriteLine("cuda-to-cpu: CUDA is not available to TorchSharp.");
            return 3;
        }
        string folder = Directory.CreateTempSubdirectory("sape2-cuda-to-cpu-").FullName;
        try
        {
            var ml = new MLContext(seed: 1);
            var rows = Rows();
            var data = ml.Data.LoadFromEnumerable(rows);
            var options = new Sape2ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label", FeatureColumnName = "Image", Preset = VitPreset.Micro, Epochs = 3, BatchSize = 16,
                Augmentation = AugmentationOptions.None, Device = device, Seed = 1,
            };
            using var model = ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(options)).Fit(data);
            string zip = Path.Combine(folder, "model.zip"), cpuScores = Path.Combine(folder, "cpu.txt");
            ml.Model.Save(model, data.Schema, zip);
            var cudaScores = Score(ml, model, rows);

            var start = ChildMode.StartInfo("cuda-to-cpu-load", zip, cpuScores);
            start.RedirectStandardError = true;
            start.Environment["CUDA_VISIBLE_DEVICES"] = "";
            using var child = Process.Start(start)!;
            string errors = child.StandardError.ReadToEnd();
            child.WaitForExit();
            if (child.ExitCode != 0) { Console.Error.WriteLine($"cuda-to-cpu: the CPU process failed ({child.ExitCode}): {errors}"); return 1; }
            var cpu = File.ReadAllLines(cpuScores)
                .Select(l => l.Split(' ').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray()).ToList();

            int sameTop1 = cudaScores.Zip(cpu).Count(p => ArgMax(p.First) == ArgMax(p.Second));
            double largest = cudaScores.Zip(cpu).SelectMany(p => p.First.Zip(p.Second, (a, b) => Math.Abs(a - b))).Max();
            bool passed = sameTop1 == rows.Count && largest <= Tolerance;
            report.WriteLine($"| trained on {options.Device}, saved, loaded and scored in a CPU-only process ({rows.Count} images) | top-1 equal " +
                $"{sameTop1}/{rows.Count}; largest score difference {largest:E2} (limit {Tolerance:E0}) | {(passed ? "pass" : "FAIL")} |");
            return passed ? 0 : 1;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Child side: load the model with no GPU visible and write each image's scores, one line per image.</summary>
    public static int LoadChild(string zip, string output)
    {
        if (TorchSharp.torch.cuda.is_available()) { Console.Error.WriteLine("The child process still sees a GPU."); return 2; }
        var ml = new MLContext(seed: 1);
        using var model = (IDisposable)ml.Model.Load(zip, out _);
        var scores = Score(ml, (ITransformer)model, Rows());
        File.WriteAllLines(output, scores.Select(s => string.Join(' ', s.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));
        return 0;
    }

    private static List<ModelFileBenchmark.Row> Rows() =>
        Enumerable.Range(0, 32).Select(i => new ModelFileBenchmark.Row { Image = ModelFileBenchmark.Png(i % 7), Label = $"c{i % 7 % 3}" }).ToList();

    private static List<float[]> Score(MLContext ml, ITransformer model, List<ModelFileBenchmark.Row> rows)
    {
        using var engine = ml.Model.CreatePredictionEngine<ModelFileBenchmark.Row, ModelFileBenchmark.Prediction>(model);
        return rows.Select(r => engine.Predict(r).Score.ToArray()).ToList();
    }

    private static int ArgMax(float[] scores) => Array.IndexOf(scores, scores.Max());
}
