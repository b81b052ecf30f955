using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Tests.MLNet;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.Samples;

/// <summary>The `sape2` tool run in-process through its entry point: exit codes and one-line errors.</summary>
[TestClass]
public sealed class CliTests
{
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-cli-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    internal static (int ExitCode, string Errors) Run(params string[] args)
    {
        var entry = System.Reflection.Assembly.Load("sape2").EntryPoint!;
        var errors = new StringWriter();
        var originalError = Console.Error;
        Console.SetError(errors);
        try
        {
            return ((int)entry.Invoke(null, new object[] { args })!, errors.ToString());
        }
        finally
        {
            Console.SetError(originalError);
        }
    }

    internal static void AssertOneLineError((int ExitCode, string Errors) result, string expected)
    {
        Assert.AreEqual(1, result.ExitCode, $"exit code; stderr: {result.Errors}");
        var lines = result.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        StringAssert.StartsWith(lines[0], "error: ");
        StringAssert.Contains(lines[0], expected);
        Assert.IsFalse(result.Errors.Contains("   at "), $"A stack trace was printed without --verbose: {result.Errors}");
    }

    [TestMethod]
    public void BadTrainingInputsGetOneClearLine()
    {
        AssertOneLineError(Run("train", "--data", Path.Combine(folder, "missing")), "does not exist");
        Directory.CreateDirectory(Path.Combine(folder, "empty"));
        AssertOneLineError(Run("train", "--data", Path.Combine(folder, "empty")), "no class sub-folders");
        string one = Path.Combine(folder, "one");
        SyntheticFolder(one, classes: 1, perClass: 10);
        AssertOneLineError(Run("train", "--data", one, "--epochs", "1", "--out", Path.Combine(folder, "out")), "Only one class");
        string corrupt = Path.Combine(folder, "corrupt");
        SyntheticFolder(corrupt, classes: 2, perClass: 5);
        File.WriteAllBytes(Path.Combine(corrupt, "class001", "broken.png"), new byte[] { 1, 2, 3 });
        AssertOneLineError(Run("train", "--data", corrupt, "--epochs", "1"), "broken.png");
        File.Delete(Path.Combine(corrupt, "class001", "broken.png"));
        var noisy = new byte[32 * 32 * 4];
        new Random(2).NextBytes(noisy);   // incompressible pixels, so cutting the file cuts rows
        byte[] cut;
        using (var bitmap = new SkiaSharp.SKBitmap(new SkiaSharp.SKImageInfo(32, 32, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Unpremul)))
        {
            System.Runtime.InteropServices.Marshal.Copy(noisy, 0, bitmap.GetPixels(), noisy.Length);
            var png = SkiaSharp.SKImage.FromBitmap(bitmap).Encode(SkiaSharp.SKEncodedImageFormat.Png, 100).ToArray();
            cut = png.AsSpan(0, png.Length / 2).ToArray();
        }
        // Its header is sound, so the trainer meets it when it decodes the pixels, and the tool names the file from the row.
        File.WriteAllBytes(Path.Combine(corrupt, "class001", "cut.png"), cut);
        AssertOneLineError(Run("train", "--data", corrupt, "--epochs", "1", "--out", Path.Combine(folder, "out")), "cut.png");
        // In the test images it is met when the model scores them, after training.
        string split = Path.Combine(folder, "split");
        SyntheticFolder(Path.Combine(split, "train"), classes: 2, perClass: 5);
        SyntheticFolder(Path.Combine(split, "test"), classes: 2, perClass: 2);
        File.WriteAllBytes(Path.Combine(split, "test", "class001", "cut.png"), cut);
        AssertOneLineError(Run("train", "--data", split, "--epochs", "1", "--image-size", "16", "--out", Path.Combine(folder, "out")),
            $"Image '{Path.Combine(split, "test", "class001", "cut.png")}' is truncated");
    }

    [TestMethod]
    public void VerboseWorksBeforeAndAfterTheSubcommand()
    {
        string missing = Path.Combine(folder, "missing.zip");
        foreach (var args in new[] { new[] { "--verbose", "info", "--model", missing }, new[] { "info", "--model", missing, "--verbose" } })
        {
            var (exitCode, errors) = Run(args);
            Assert.AreEqual(1, exitCode, $"{string.Join(' ', args)}: {errors}");
            StringAssert.Contains(errors, "missing.zip");
            Assert.IsFalse(errors.Contains("run with --verbose"), $"{string.Join(' ', args)} was not taken as verbose: {errors}");
        }
        StringAssert.Contains(Run("info", "--model", missing).Errors, "run with --verbose", "without --verbose the hint is shown");
    }

    [TestMethod]
    public void UsageErrorsExitWithTwo()
    {
        Assert.AreEqual(2, Run("train", "--epochs", "many").ExitCode);
        Assert.AreEqual(2, Run("frobnicate").ExitCode);
        Assert.AreEqual(0, Run("--help").ExitCode);
    }

    [TestMethod]
    public void TrainsThenPredictsExplainsAndDescribes()
    {
        string data = Path.Combine(folder, "data"), output = Path.Combine(folder, "out");
        SyntheticFolder(data, classes: 3, perClass: 10);
        // A CLS head (not the automatic sequence pooling) so that the CLS-attention picture is drawn too.
        Assert.AreEqual(0,
            Run("train", "--data", data, "--epochs", "2", "--image-size", "16", "--patch", "4", "--pooling", "ClassToken", "--out", output,
                "--device", "cpu").ExitCode);
        foreach (var file in new[] { "model.zip", "training-curves.png", "confusion-matrix.png", "sape2-bias.png", "cls-attention.png" })
            Assert.IsTrue(File.Exists(Path.Combine(output, file)), $"{file} was not written.");
        string model = Path.Combine(output, "model.zip");
        Assert.AreEqual(0, Run("predict", "--model", model, Path.Combine(data, "class000")).ExitCode);
        Assert.AreEqual(0, Run("evaluate", "--model", model, "--data", data).ExitCode);
        Assert.AreEqual(0, Run("info", "--model", model).ExitCode);
        Assert.AreEqual(0,
            Run("explain", "--model", model, "--image", Path.Combine(data, "class001", "img0.png"), "--patch", "1,2", "--out",
                Path.Combine(folder, "explained")).ExitCode);
        Assert.IsTrue(File.Exists(Path.Combine(folder, "explained", "sape2-bias.png")));
        AssertOneLineError(Run("explain", "--model", model, "--image", Path.Combine(data, "class001", "img0.png"), "--patch", "9,9"), "outside");
    }

    [TestMethod]
    public void AModelOnThePretrainedBackboneTrainsPredictsExplainsAndDescribes()
    {
        string data = Path.Combine(folder, "photos"), output = Path.Combine(folder, "out"), retrained = Path.Combine(folder, "again");
        SyntheticFolder(data, classes: 2, perClass: 6, SkiaSharp.SKEncodedImageFormat.Jpeg, variedSizes: true);
        Assert.AreEqual(0, Run("train", "--data", data, "--epochs", "2", "--image-size", "64", "--out", output, "--device", "cpu").ExitCode);
        string model = Path.Combine(output, "model.zip");
        Assert.AreEqual(0, Run("predict", "--model", model, Path.Combine(data, "class000")).ExitCode);
        Assert.AreEqual(0, Run("evaluate", "--model", model, "--data", data).ExitCode);
        Assert.AreEqual(0, Run("info", "--model", model).ExitCode);
        var image = Directory.GetFiles(Path.Combine(data, "class001"))[0];
        Assert.AreEqual(0, Run("explain", "--model", model, "--image", image, "--patch", "1,1", "--out", Path.Combine(folder, "explained")).ExitCode);
        Assert.IsTrue(File.Exists(Path.Combine(folder, "explained", "sape2-bias.png")));
        Assert.AreEqual(0, Run("train", "--data", data, "--epochs", "1", "--from", model, "--out", retrained, "--device", "cpu").ExitCode,
            "retraining from the model with --from");
        AssertOneLineError(Run("train", "--data", data, "--tokenizer", "PretrainedBackbone", "--patch", "8", "--out", retrained), "PatchSize");
    }

    [TestMethod]
    public void EvaluateGivesTheMetricsTheModelsOwnScoresGive()
    {
        // Any shift or reordering of the label keys shows in the metrics (evaluate reported 1.33% on the
        // images train had just scored at 75%, its confusion matrix shifted by one class).
        string data = Path.Combine(folder, "data"), output = Path.Combine(folder, "out");
        SyntheticFolder(data, classes: 4, perClass: 8);
        Assert.AreEqual(0,
            Run("train", "--data", data, "--epochs", "4", "--image-size", "16", "--patch", "4", "--out", output, "--device", "cpu").ExitCode);
        using var loaded = Sape2.Cli.ModelCommands.LoadedModel.Open(Path.Combine(output, "model.zip"));
        var rows = Sape2.Cli.ImageRows.FromFolder(data);
        var metrics = Sape2.Cli.ModelCommands.EvaluateRows(loaded, rows);

        // The truth, from the scores alone: the arg-max slot's class name against the folder name.
        var classes = loaded.Sape2.ClassNames;
        var scores = loaded.Model.Transform(Sape2.Cli.ImageRows.ToDataView(loaded.Context, rows)).GetColumn<float[]>("Score").ToList();
        var counts = new double[classes.Count, classes.Count];
        int correct = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            int truth = classes.ToList().IndexOf(rows[i].Label), predicted = Array.IndexOf(scores[i], scores[i].Max());
            counts[truth, predicted]++;
            if (truth == predicted) correct++;
        }
        Assert.AreEqual((double)correct / rows.Count, metrics.MicroAccuracy, 1e-9, "evaluate's accuracy");
        for (int t = 0; t < classes.Count; t++)
            for (int p = 0; p < classes.Count; p++)
                Assert.AreEqual(counts[t, p], metrics.ConfusionMatrix.Counts[t][p], $"confusion matrix [{classes[t]}, {classes[p]}]");
        Assert.IsTrue(metrics.MicroAccuracy > 0.5, $"The model should beat chance on its own training images; got {metrics.MicroAccuracy:P0}.");
    }

    [TestMethod]
    public void TrainsFromCifarAndIdxFilesAndTestsOnTheirOfficialTestFiles()
    {
        // Tiny CIFAR-10 batches: class 0 dark, class 1 bright; 24 training records, 6 in the official test batch.
        var random = new Random(1);
        void WriteCifar(string path, int records)
        {
            using var file = File.Create(path);
            for (int i = 0; i < records; i++)
            {
                var record = new byte[1 + 3072];
                record[0] = (byte)(i % 2);
                for (int p = 1; p < record.Length; p++) record[p] = (byte)(i % 2 == 0 ? random.Next(60) : 190 + random.Next(60));
                file.Write(record);
            }
        }
        string cifar = Path.Combine(folder, "data_batch_1.bin"), cifarTest = Path.Combine(folder, "test_batch.bin");
        WriteCifar(cifar, 24);
        string[] cifarArgs = ["train", "--cifar", cifar, "--epochs", "1", "--image-size", "16", "--patch", "4",
            "--out", Path.Combine(folder, "cifar"), "--ema", "0.9", "--patience", "1"];
        AssertOneLineError(Run(cifarArgs), "The official test file test_batch.bin is not in");
        File.WriteAllBytes(cifarTest, new byte[100]);   // not a whole record: the error proves the test batch is what is read
        AssertOneLineError(Run(cifarArgs), "test_batch.bin");
        WriteCifar(cifarTest, 6);
        Assert.AreEqual(0, Run(cifarArgs).ExitCode);
        // A named recipe fills what the command line leaves open; what it names wins (Docs/reproduce-cifar.md).
        string recipeOut = Path.Combine(folder, "recipe");
        Assert.AreEqual(0, Run("train", "--cifar", cifar, "--recipe", "paper", "--preset", "Micro", "--epochs", "1", "--image-size", "16",
            "--out", recipeOut).ExitCode);
        using (var loaded = Sape2.Cli.ModelCommands.LoadedModel.Open(Path.Combine(recipeOut, "model.zip")))
        {
            var architecture = loaded.Sape2.Architecture;
            Assert.AreEqual((TokenizerKind.Patch, PoolingKind.ClassToken, WeightInitialization.TruncatedNormal, 4, 3),
                (architecture.Tokenizer, architecture.Pooling, architecture.Initialization, architecture.PatchSize, architecture.InChannels),
                "the paper's ViT from the recipe");
            Assert.AreEqual((16, Microsoft.ML.SaPE2.Modeling.VitConfig.FromPreset(VitPreset.Micro).EmbedDim, 1),
                (architecture.ImageHeight, architecture.EmbedDim, loaded.Sape2.TrainingHistory.Count), "the flags given: size, preset, epochs");
        }
        Assert.AreEqual(2, Run("train", "--cifar", cifar, "--recipe", "imagenet").ExitCode, "an unknown recipe is a usage error");

        void WriteIdx(string images, string labels, int count)
        {
            var idxImages = new List<byte>(); var idxLabels = new List<byte>();
            void Int(List<byte> b, int v) => b.AddRange(BitConverter.GetBytes(v).Reverse());
            Int(idxImages, 2051); Int(idxImages, count); Int(idxImages, 8); Int(idxImages, 8);
            Int(idxLabels, 2049); Int(idxLabels, count);
            for (int i = 0; i < count; i++)
            {
                idxLabels.Add((byte)(i % 2));
                for (int p = 0; p < 64; p++) idxImages.Add((byte)(i % 2 == 0 ? 20 : 230));
            }
            File.WriteAllBytes(images, idxImages.ToArray());
            File.WriteAllBytes(labels, idxLabels.ToArray());
        }
        string idx = Path.Combine(folder, "idx-files");
        Directory.CreateDirectory(idx);
        string images = Path.Combine(idx, "train-images-idx3-ubyte"), labels = Path.Combine(idx, "train-labels-idx1-ubyte");
        WriteIdx(images, labels, 24);
        string[] idxArgs = ["train", "--idx", images, labels, "--epochs", "1", "--image-size", "8", "--patch", "4", "--channels", "1", "--out",
            Path.Combine(folder, "idx")];
        AssertOneLineError(Run(idxArgs), "The official test file t10k-images-idx3-ubyte is not in");
        string otherImages = Path.Combine(folder, "test-images.idx"), otherLabels = Path.Combine(folder, "test-labels.idx");
        WriteIdx(otherImages, otherLabels, 6);
        Assert.AreEqual(0, Run([idxArgs[0], idxArgs[1], images, labels, otherImages, otherLabels, .. idxArgs[4..]]).ExitCode,
            "test files named on the line");
        WriteIdx(Path.Combine(idx, "t10k-images-idx3-ubyte"), Path.Combine(idx, "t10k-labels-idx1-ubyte"), 6);
        Assert.AreEqual(0, Run(idxArgs).ExitCode, "test files found beside the training files");
        Assert.AreEqual(0, Run([.. idxArgs, "--train-limit", "12"]).ExitCode, "the first 12 training records");
        AssertOneLineError(Run([.. idxArgs, "--train-limit", "0"]), "--train-limit must be positive");
        AssertOneLineError(Run("train", "--data", folder, "--train-limit", "5"), "--train-limit applies to --idx and --cifar files");
        Assert.IsTrue(File.Exists(Path.Combine(folder, "idx", "model.zip")));
    }

    [TestMethod]
    public void CompareReportsEachEncodingAndResumesWithoutRetraining()
    {
        string data = Path.Combine(folder, "data"), output = Path.Combine(folder, "compare");
        SyntheticFolder(data, classes: 2, perClass: 10);
        string[] args = ["compare", "--data", data, "--encodings", "Absolute,Sape2+APE,Sape2+APE:sigma-:cls", "--seeds", "2", "--epochs", "1",
            "--image-size", "16", "--patch", "4", "--out", output];
        Assert.AreEqual(0, Run(args).ExitCode);
        string runsFile = Path.Combine(output, "runs.json");
        var runs = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(runsFile))!["Runs"]!.AsArray();
        CollectionAssert.AreEquivalent(new[] { "Absolute 1", "Absolute 2", "Sape2+APE 1", "Sape2+APE 2", "Sape2+APE:sigma-:cls 1",
            "Sape2+APE:sigma-:cls 2" }, runs.Select(r => $"{r!["Arm"]} {r["Seed"]}").ToArray());
        Assert.IsTrue(File.Exists(Path.Combine(output, "compare.png")));
        StringAssert.DoesNotMatch(File.ReadAllText(Path.Combine(output, "compare.md")), new System.Text.RegularExpressions.Regex(
            "PositionEncoding =|Seed ="), "The settings every arm shares list no per-arm setting.");

        // Each run's model is kept, with the arm's settings in it.
        var ablated = ModelConfig(Path.Combine(output, runs.Single(r => r!["Arm"]!.GetValue<string>().EndsWith(":cls") &&
            r["Seed"]!.GetValue<int>() == 2)!["Model"]!.GetValue<string>()));
        Assert.AreEqual((PositionEncodingKind.Sape2, -1.0, PoolingKind.ClassToken), (ablated.PositionEncoding, ablated.Sape2BiasSign,
            ablated.Pooling));
        Assert.AreEqual(1.0, ModelConfig(Path.Combine(output, "models", "Sape2+APE.seed1.zip")).Sape2BiasSign);

        // The robustness study scores those models on larger and shifted test images.
        string study = Path.Combine(folder, "robustness");
        Assert.AreEqual(0, Run("robustness", "--compare", output, "--data", data, "--scales", "1,2", "--shifts", "4", "--out", study).ExitCode);
        string report = File.ReadAllText(Path.Combine(study, "robustness.md"));
        StringAssert.Contains(report, "×2: 32 px, 8×8");
        StringAssert.Contains(report, "| Sape2+APE, positions interpolated |");
        StringAssert.Contains(report, "| encoding | 0 px | 4 px |");
        Assert.IsTrue(File.Exists(Path.Combine(study, "resolution.png")) && File.Exists(Path.Combine(study, "translation.png")));
        AssertOneLineError(Run("robustness", "--compare", output, "--data", data, "--encodings", "Cope"), "No run of Cope");
        AssertOneLineError(Run("robustness", "--compare", output, "--data", data, "--scales", "0.5"), "--scales: '0.5' is not allowed");

        // A finished run is never trained again: its recorded accuracy is what the table shows.
        var edited = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(runsFile))!;
        edited["Runs"]![0]!["Accuracy"] = 0.123456;
        File.WriteAllText(runsFile, edited.ToJsonString());
        Assert.AreEqual(0, Run(args).ExitCode);
        string table = File.ReadAllText(Path.Combine(output, "compare.md"));
        StringAssert.Contains(table, "| Sape2+APE | 2 |");
        StringAssert.Contains(table, "Δ vs Absolute (paired)");
        var arm = edited["Runs"]![0]!["Arm"]!.GetValue<string>();
        var mean = (0.123456 + edited["Runs"]!.AsArray().Where(r => r!["Arm"]!.GetValue<string>() == arm).Skip(1).Single()!["Accuracy"]!
            .GetValue<double>()) / 2;
        StringAssert.Contains(table, $"| {arm} | 2 | {(100 * mean).ToString("F2", System.Globalization.CultureInfo.InvariantCulture)} ±",
            "The resumed comparison retrained a finished run.");

        AssertOneLineError(Run([.. args, "--lr", "0.5"]), "holds runs made with other data or settings");
        // The same counts of other images (the two class folders swapped) are other data.
        string swapped = Path.Combine(folder, "swapped");
        SyntheticFolder(swapped, classes: 2, perClass: 10);
        Directory.Move(Path.Combine(swapped, "class000"), Path.Combine(swapped, "moved"));
        Directory.Move(Path.Combine(swapped, "class001"), Path.Combine(swapped, "class000"));
        Directory.Move(Path.Combine(swapped, "moved"), Path.Combine(swapped, "class001"));
        string[] otherData = [.. args];
        otherData[Array.IndexOf(args, "--data") + 1] = swapped;
        AssertOneLineError(Run(otherData), "it records 'training images:");
        // Scales whose token grid training itself would refuse are refused before any model is scored.
        AssertOneLineError(Run("robustness", "--compare", output, "--data", data, "--scales", "1,100"), "--scales 100");
        // An edited or damaged runs.json is refused, naming what is wrong.
        string kept = File.ReadAllText(runsFile);
        var broken = System.Text.Json.Nodes.JsonNode.Parse(kept)!;
        broken["Runs"]![1]!["Accuracy"] = 1.5;
        File.WriteAllText(runsFile, broken.ToJsonString());
        AssertOneLineError(Run(args), "outside 0–1");
        File.WriteAllText(runsFile, kept[..(kept.Length / 2)]);
        AssertOneLineError(Run(args), "runs.json' is damaged");
        File.WriteAllText(runsFile, kept);
        AssertOneLineError(Run([.. args, "--baseline", "Cope"]), "--baseline Cope is not among --encodings");
        string[] misspelt = [.. args];
        misspelt[Array.IndexOf(args, "--encodings") + 1] = "Absolute,Sape3";
        AssertOneLineError(Run(misspelt), "'Sape3' is not an encoding");
    }

    static Microsoft.ML.SaPE2.Modeling.VitConfig ModelConfig(string zip)
    {
        var ml = new MLContext();
        var model = ml.Model.LoadSape2Model(zip, out _);
        try
        {
            return (model as IEnumerable<ITransformer> ?? [model]).OfType<Sape2ImageClassificationTransformer>().Single().Classifier.Config;
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    [TestMethod]
    public void ExportAndImportMoveWeightsThroughSafetensors()
    {
        string data = Path.Combine(folder, "data"), output = Path.Combine(folder, "out");
        SyntheticFolder(data, classes: 2, perClass: 10);
        Assert.AreEqual(0, Run("train", "--data", data, "--epochs", "1", "--image-size", "16", "--patch", "4", "--out", output).ExitCode);
        string zip = Path.Combine(output, "model.zip"), weights = Path.Combine(folder, "weights.safetensors");
        string onnx = Path.Combine(folder, "model.onnx");
        Assert.AreEqual(0, Run("export", "--model", zip, "--safetensors", weights, "--onnx", onnx).ExitCode);
        using (var session = new Microsoft.ML.OnnxRuntime.InferenceSession(onnx))
            CollectionAssert.AreEqual(new[] { -1, 3, 16, 16 }, session.InputMetadata[Microsoft.ML.Sape2Onnx.InputName].Dimensions);
        var refused = Run("export", "--model", zip);
        Assert.AreEqual(2, refused.ExitCode, "nothing to write is a usage error");
        StringAssert.Contains(refused.Errors, "--onnx FILE, --safetensors FILE, or both");
        string imported = Path.Combine(folder, "imported.zip");
        Assert.AreEqual(0, Run("import", "--model", zip, "--safetensors", weights, "--out", imported).ExitCode);
        CollectionAssert.AreEqual(Weights(zip), Weights(imported), "Imported into the same architecture, the weights are the exported ones.");
        File.WriteAllText(Path.Combine(folder, "text.safetensors"), "not a tensor file");
        AssertOneLineError(Run("import", "--model", zip, "--safetensors", Path.Combine(folder, "text.safetensors"), "--out",
            Path.Combine(folder, "bad.zip")), "is not a readable safetensors file");
        Assert.IsFalse(File.Exists(Path.Combine(folder, "bad.zip")), "A refused import writes nothing.");
    }

    [TestMethod]
    public void PatternsWritesTheRepeatedPatternTaskAsAFolder()
    {
        string output = Path.Combine(folder, "patterns");
        Assert.AreEqual(0, Run("patterns", "--out", output, "--train", "10", "--test", "5", "--seed", "3").ExitCode);
        foreach (var name in Sape2.Cli.RepeatedPatterns.Classes)
        {
            Assert.AreEqual(2, Directory.GetFiles(Path.Combine(output, "train", name)).Length, $"train/{name}");
            Assert.AreEqual(1, Directory.GetFiles(Path.Combine(output, "test", name)).Length, $"test/{name}");
        }
        var first = File.ReadAllBytes(Directory.GetFiles(Path.Combine(output, "train", "row")).Order().First());
        string again = Path.Combine(folder, "again");
        Assert.AreEqual(0, Run("patterns", "--out", again, "--train", "10", "--test", "5", "--seed", "3").ExitCode);
        CollectionAssert.AreEqual(first, File.ReadAllBytes(Directory.GetFiles(Path.Combine(again, "train", "row")).Order().First()),
            "The same seed writes the same images.");
        AssertOneLineError(Run("patterns", "--out", output), "is not empty");
        AssertOneLineError(Run("patterns", "--out", Path.Combine(folder, "few"), "--train", "3"), "at least 5");
    }

    [TestMethod]
    public void CompareStatisticsUseStudentsT()
    {
        var summary = Sape2.Cli.Summary.Of([1.0, 2.0, 3.0]);
        Assert.AreEqual((3, 2.0, 1.0), (summary.Count, summary.Mean, summary.StandardDeviation));
        Assert.AreEqual(4.303 / Math.Sqrt(3), summary.HalfWidth, 1e-9, "t(2 df) = 4.303");
        Assert.IsTrue(double.IsNaN(Sape2.Cli.Summary.Of([0.5]).HalfWidth), "One run has no interval.");
        var many = Sape2.Cli.Summary.Of(Enumerable.Range(0, 100).Select(i => (double)(i % 2)).ToList());
        Assert.AreEqual(1.96 * many.StandardDeviation / 10, many.HalfWidth, 1e-12, "beyond 30 degrees of freedom: 1.96");
        // Two far-apart seeds: t(1 df) = 12.7 reaches far past an accuracy's 0–1; the reported interval stops there.
        var wide = Sape2.Cli.Summary.Of([0.1, 0.9]);
        Assert.IsTrue(wide.Low < 0 && wide.High > 1);
        Assert.AreEqual((0.0, 1.0), wide.IntervalWithin(0, 1));
        var arms = new[] { Sape2.Cli.Arm.Parse("Absolute"), Sape2.Cli.Arm.Parse("Sape2") };
        var table = Sape2.Cli.CompareReport.Markdown([new("Absolute", 1, 0.1, 0.1, 10, 1, "a"), new("Absolute", 2, 0.9, 0.9, 10, 1, "b"),
            new("Sape2", 1, 0.9, 0.9, 10, 1, "c"), new("Sape2", 2, 0.1, 0.1, 10, 1, "d")], arms, arms[0]);
        StringAssert.Contains(table, "| 0.00 – 100.00 |", "the accuracy interval within 0–100%");
        StringAssert.Contains(table, "| -100.00 – 100.00 |", "the paired difference's interval within ±100 points");
        Assert.IsFalse(table.Contains("-184") || table.Contains("296"), table);
    }

    /// <summary>Starts the tool in a process of its own (it can be killed there).</summary>
    static System.Diagnostics.Process StartTool(params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(typeof(Sape2.Cli.ImageRows).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        var process = System.Diagnostics.Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    internal static byte[] Weights(string zip)
    {
        using var archive = System.IO.Compression.ZipFile.OpenRead(zip);
        using var stream = archive.Entries.Single(e => e.FullName.EndsWith("SaPE2Weights")).Open();
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    [TestMethod]
    public void AKilledTrainingResumesToTheWeightsOfAnUninterruptedRun()
    {
        // 600 training and 100 test images of the embedded set: about 9 steps an epoch.
        string data = Path.Combine(folder, "data");
        foreach (var (split, perClass) in new[] { ("train", 60), ("test", 10) })
            foreach (var row in FashionRows(split, perClass))
            {
                string target = Path.Combine(data, split, row.Label, Path.GetFileName(row.ImagePath));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(Path.Combine(RepositoryPaths.FashionMnistMini, split, row.ImagePath), target);
            }
        string[] common = { "train", "--data", data, "--epochs", "4", "--device", "cpu", "--threads", "2", "--seed", "5" };
        string straight = Path.Combine(folder, "straight"), killed = Path.Combine(folder, "killed"), resumed = Path.Combine(folder, "resumed");
        string checkpoints = Path.Combine(folder, "checkpoints");

        Assert.AreEqual(0, Run(common.Concat(new[] { "--out", straight }).ToArray()).ExitCode, "the uninterrupted run");
        using (var child = StartTool(common.Concat(new[] { "--out", killed, "--checkpoints", checkpoints }).ToArray()))
        {
            string last = Path.Combine(checkpoints, "last.ckpt");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            // Killed as soon as the first checkpoint exists: in the second epoch (or writing best.ckpt), on any machine's speed.
            while (!File.Exists(last) && !child.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(5);
            Assert.IsFalse(child.HasExited, "The run ended before it could be killed.");
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
        }
        Assert.IsFalse(File.Exists(Path.Combine(killed, "model.zip")), "The killed run must not have finished.");
        int completed = Microsoft.ML.SaPE2.Training.Checkpoint.Read(Path.Combine(checkpoints, "last.ckpt")).Metadata.EpochsCompleted;
        Assert.IsTrue(completed is >= 1 and < 4, $"killed after {completed} epoch(s)");
        File.WriteAllBytes(Path.Combine(checkpoints, $".last.ckpt.{Guid.NewGuid():N}.tmp"), Array.Empty<byte>());   // a write cut by kill -9

        var result = Run(common.Concat(new[] { "--out", resumed, "--resume", checkpoints }).ToArray());
        Assert.AreEqual(0, result.ExitCode, result.Errors);
        Assert.IsFalse(Directory.EnumerateFiles(checkpoints, "*.tmp").Any(), "A stale temporary checkpoint was left behind.");
        CollectionAssert.AreEqual(Weights(Path.Combine(straight, "model.zip")), Weights(Path.Combine(resumed, "model.zip")),
            $"Resumed after {completed} epoch(s), the final weights differ from the uninterrupted run's.");
        AssertOneLineError(Run("train", "--data", data, "--resume", Path.Combine(folder, "nothing-here")), "nothing to resume from");
        AssertOneLineError(Run("train", "--data", data, "--resume", data), "holds no last.ckpt");
    }

    [TestMethod]
    public void BadModelFilesGetOneClearLine()
    {
        AssertOneLineError(Run("info", "--model", Path.Combine(folder, "none.zip")), "does not exist");
        string notOurs = Path.Combine(folder, "notours.zip");
        File.WriteAllText(notOurs, "this is not a zip");
        AssertOneLineError(Run("info", "--model", notOurs), "is not a readable zip archive");
        string empty = Path.Combine(folder, "empty.zip");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        AssertOneLineError(Run("info", "--model", empty), "is empty (0 bytes)");
        string data = Path.Combine(folder, "data"), output = Path.Combine(folder, "out");
        SyntheticFolder(data, classes: 2, perClass: 6);
        Assert.AreEqual(0, Run("train", "--data", data, "--epochs", "1", "--image-size", "16", "--patch", "4", "--out", output).ExitCode);
        var bytes = File.ReadAllBytes(Path.Combine(output, "model.zip"));
        string truncated = Path.Combine(folder, "truncated.zip");
        File.WriteAllBytes(truncated, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        AssertOneLineError(Run("info", "--model", truncated), $"Model file '{truncated}'");
        AssertOneLineError(Run("info", "--model", truncated), "not a readable zip archive");

        // A bad image given to predict is named, with the reason, as train and evaluate name it.
        string images = Path.Combine(folder, "images");
        Directory.CreateDirectory(images);
        File.Copy(Directory.GetFiles(Path.Combine(data, "class000"))[0], Path.Combine(images, "good.png"));
        File.WriteAllBytes(Path.Combine(images, "bad.png"), new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3 });
        AssertOneLineError(Run("predict", "--model", Path.Combine(output, "model.zip"), images), "bad.png");
    }

    [TestMethod]
    public void AModelSavedFromTheReadmePipelineWorksWithPredictAndEvaluate()
    {
        // The README's pipeline: string labels and image paths in, MapValueToKey and LoadRawImageBytes inside the model.
        string data = Path.Combine(folder, "data"), zip = Path.Combine(folder, "readme-model.zip");
        var rows = SyntheticFolder(data, classes: 3, perClass: 6);
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadRawImageBytes("Image", data, "ImagePath"))
            .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 2).WithGrid(16, 4, 3)))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel"));
        var model = pipeline.Fit(train);
        double accuracy = ml.MulticlassClassification.Evaluate(model.Transform(train)).MicroAccuracy;
        ml.Model.Save(model, train.Schema, zip);
        ((IDisposable)model).Dispose();

        Assert.AreEqual(0, Run("predict", "--model", zip, data).ExitCode, "predict on a model that reads image paths");
        using var loaded = Sape2.Cli.ModelCommands.LoadedModel.Open(zip);
        Assert.IsTrue(loaded.Input.ImageIsPath, "The tool must feed this model paths.");
        var metrics = Sape2.Cli.ModelCommands.EvaluateRows(loaded, Sape2.Cli.ImageRows.FromFolder(data));
        Assert.AreEqual(accuracy, metrics.MicroAccuracy, 1e-9, "evaluate through the tool and through the API agree");
        Assert.AreEqual(0, Run("evaluate", "--model", zip, "--data", data).ExitCode);
    }

    [TestMethod]
    public void SweepWritesTheLeaderboardChartModelAndProjectAndResumesOnlyWhenAsked()
    {
        string data = Path.Combine(folder, "images"), output = Path.Combine(folder, "sweep"), project = Path.Combine(folder, "app");
        SyntheticFolder(data, classes: 3, perClass: 20);
        var first = Run("sweep", "--data", data, "--time", "60", "--epochs", "2", "--max-trials", "2", "--image-size", "16", "--out", output,
            "--generate", project);
        Assert.AreEqual(0, first.ExitCode, first.Errors);
        foreach (string file in new[] { "leaderboard.md", "trials.png", "model.zip", "experiment/experiment.db" })
            Assert.IsTrue(new FileInfo(Path.Combine(output, file)).Length > 0, $"{file} was not written.");
        string leaderboard = File.ReadAllText(Path.Combine(output, "leaderboard.md"));
        StringAssert.Contains(leaderboard, "| 1 | 0 |");
        StringAssert.Contains(leaderboard, "**best**");
        string builder = File.ReadAllText(Path.Combine(project, "Sape2Model.training.cs"));
        StringAssert.Contains(builder, "public static ITransformer RetrainPipeline(MLContext mlContext, IDataView trainData)");
        StringAssert.Contains(builder, "public static IEstimator<ITransformer> BuildPipeline(MLContext mlContext)");
        StringAssert.Contains(File.ReadAllText(Path.Combine(project, "Sape2Model.consumption.cs")),
            "public static ModelOutput Predict(ModelInput input)");
        StringAssert.Contains(builder, "PositionEncoding = PositionEncodingKind.Sape2,");
        StringAssert.Contains(builder, "Epochs = 6,", "the final fit's schedule: three times the trials' 2 epochs (the budget allows more)");
        StringAssert.Contains(leaderboard, "model.zip is its final fit");
        StringAssert.Contains(builder, "ImageSize = 16,");
        CollectionAssert.AreEquivalent(new[] { "Program.cs", "Sape2Model.consumption.cs", "Sape2Model.csproj", "Sape2Model.training.cs" },
            Directory.GetFiles(project).Select(Path.GetFileName).ToArray(), "Model Builder's current files: the partial class in two files");
        Assert.AreEqual(0, Run("evaluate", "--model", Path.Combine(output, "model.zip"), "--data", data).ExitCode, "evaluate takes the best model");

        AssertOneLineError(Run("sweep", "--data", data, "--time", "60", "--epochs", "2", "--image-size", "16", "--out", output),
            "already holds an experiment; pass --resume");
        AssertOneLineError(Run("sweep", "--data", data, "--resume", "--out", Path.Combine(folder, "none")), "no experiment to resume");
        var resumed = Run("sweep", "--data", data, "--time", "60", "--epochs", "2", "--max-trials", "3", "--image-size", "16", "--out", output,
            "--resume");
        Assert.AreEqual(0, resumed.ExitCode, resumed.Errors);
        StringAssert.Contains(File.ReadAllText(Path.Combine(output, "leaderboard.md")), "3 trials;");
    }
}
