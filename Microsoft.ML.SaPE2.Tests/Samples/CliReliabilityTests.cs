using System.IO.Compression;
using System.Text;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;
using static Microsoft.ML.SaPE2.Tests.Samples.CliTests;

namespace Microsoft.ML.SaPE2.Tests.Samples;

/// <summary>
/// Inputs that once gave a wrong answer, lost a file or spun without a word: each now gets one clear line (exit 1) before any work,
/// or the right answer. Docs/reliability.md lists them.
/// </summary>
[TestClass]
public sealed class CliReliabilityTests
{
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-reliable-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    /// <summary>A 2-class synthetic folder and a model trained on it for one epoch; returns (data, model.zip).</summary>
    (string Data, string Model) TrainTiny(int classes = 2)
    {
        string data = Path.Combine(folder, $"data{classes}"), output = Path.Combine(folder, $"trained{classes}");
        SyntheticFolder(data, classes, perClass: 10);
        var trained = Run("train", "--data", data, "--epochs", "1", "--image-size", "16", "--patch", "4", "--out", output);
        Assert.AreEqual(0, trained.ExitCode, trained.Errors);
        return (data, Path.Combine(output, "model.zip"));
    }

    static string Sha(string file) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)));

    [TestMethod]
    public void ExportAndImportNeverWriteOverTheirInputsOrAnExistingFile()
    {
        var (_, model) = TrainTiny();
        string before = Sha(model);
        AssertOneLineError(Run("export", "--model", model, "--onnx", model), "is the file --model reads");
        AssertOneLineError(Run("export", "--model", model, "--safetensors", model), "is the file --model reads");
        Assert.AreEqual(before, Sha(model), "The trained model.zip was changed.");
        string both = Path.Combine(folder, "both.out");
        AssertOneLineError(Run("export", "--model", model, "--onnx", both, "--safetensors", both), "--onnx and --safetensors both name");
        Assert.IsFalse(File.Exists(both));

        string onnx = Path.Combine(folder, "model.onnx");
        File.WriteAllText(onnx, "the user's own file");
        AssertOneLineError(Run("export", "--model", model, "--onnx", onnx), "already exists");
        Assert.AreEqual("the user's own file", File.ReadAllText(onnx));
        Assert.AreEqual(0, Run("export", "--model", model, "--onnx", onnx, "--force").ExitCode, "--force replaces it");
        Assert.AreNotEqual("the user's own file", File.ReadAllText(onnx));

        string weights = Path.Combine(folder, "weights.safetensors");
        Assert.AreEqual(0, Run("export", "--model", model, "--safetensors", weights).ExitCode);
        AssertOneLineError(Run("import", "--model", model, "--safetensors", weights, "--out", model), "is the file --model reads");
        Assert.AreEqual(before, Sha(model));
    }

    [TestMethod]
    public void ImportRefusesWeightsWithNaN()
    {
        var (_, model) = TrainTiny();
        string weights = Path.Combine(folder, "weights.safetensors");
        Assert.AreEqual(0, Run("export", "--model", model, "--safetensors", weights).ExitCode);
        // safetensors: an 8-byte header length, a JSON header of name → dtype, shape, data offsets; then the data.
        var bytes = File.ReadAllBytes(weights);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        var header = System.Text.Json.Nodes.JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength))!.AsObject();
        var (name, entry) = header.First(p => p.Key != "__metadata__" && p.Value!["dtype"]!.GetValue<string>() == "F32");
        long start = 8 + headerLength + entry!["data_offsets"]![0]!.GetValue<long>();
        BitConverter.GetBytes(float.NaN).CopyTo(bytes, start);
        File.WriteAllBytes(weights, bytes);
        string imported = Path.Combine(folder, "imported.zip");
        AssertOneLineError(Run("import", "--model", model, "--safetensors", weights, "--out", imported), $"Tensor '{name}'");
        Assert.IsFalse(File.Exists(imported), "A refused import writes nothing.");
    }

    [TestMethod]
    public void ImportIntoAModelOfOtherClassesSaysSo()
    {
        var (_, two) = TrainTiny(classes: 2);
        var (_, three) = TrainTiny(classes: 3);
        string weights = Path.Combine(folder, "three.safetensors");
        Assert.AreEqual(0, Run("export", "--model", three, "--safetensors", weights).ExitCode);
        AssertOneLineError(Run("import", "--model", two, "--safetensors", weights, "--out", Path.Combine(folder, "mixed.zip")),
            "was trained on the classes [class000, class001, class002]; the model to load it into has [class000, class001]");
    }

    [TestMethod]
    public void TestImagesOfAClassTheTrainingImagesLackAreRefused()
    {
        string data = Path.Combine(folder, "split");
        SyntheticFolder(Path.Combine(data, "train"), classes: 2, perClass: 8);
        SyntheticFolder(Path.Combine(data, "test"), classes: 3, perClass: 3);
        AssertOneLineError(Run("train", "--data", data, "--epochs", "1", "--image-size", "16", "--patch", "4", "--out",
            Path.Combine(folder, "out")), "'class002' (3 image(s)");
        AssertOneLineError(Run("sweep", "--data", data, "--time", "60", "--epochs", "1", "--out", Path.Combine(folder, "sweep")),
            "no training images");
    }

    [TestMethod]
    public void PredictSaysWhatIsWrongWithItsModelAndImages()
    {
        var (data, model) = TrainTiny();
        string empty = Path.Combine(folder, "empty");
        Directory.CreateDirectory(empty);
        AssertOneLineError(Run("predict", "--model", model, empty), "No images");

        // A model.zip of another ML.NET pipeline (no SaPE² classifier in it).
        var ml = new MLContext();
        var rows = ml.Data.LoadFromEnumerable(new[] { new { X = 1f, Y = 2f } });
        var other = ml.Transforms.Concatenate("Features", "X", "Y").Fit(rows);
        string otherZip = Path.Combine(folder, "other.zip");
        ml.Model.Save(other, rows.Schema, otherZip);
        AssertOneLineError(Run("predict", "--model", otherZip, Path.Combine(data, "class000")), "holds no SaPE² image classifier");
    }

    [TestMethod]
    public void AnEditedModelFileIsRefused()
    {
        var (data, model) = TrainTiny();
        string edited = Path.Combine(folder, "edited.zip");
        File.Copy(model, edited);
        using (var archive = ZipFile.Open(edited, ZipArchiveMode.Update))
        {
            var (entry, content) = archive.Entries.ToList().Select(e => (Entry: e, Content: Read(e)))
                .Single(e => Encoding.Latin1.GetString(e.Content).Contains("\"Mean\":[", StringComparison.Ordinal));
            int at = Encoding.Latin1.GetString(content).IndexOf("\"Mean\":[", StringComparison.Ordinal) + "\"Mean\":[".Length;
            Assert.AreEqual((byte)'0', content[at], "The normalisation's first mean is not a number starting 0.");
            content[at + 2] = (byte)(content[at + 2] == (byte)'5' ? '6' : '5');   // 0.5 → 0.6: same length, another normalisation
            string name = entry.FullName;
            entry.Delete();
            using var rewritten = archive.CreateEntry(name).Open();
            rewritten.Write(content);
        }
        AssertOneLineError(Run("evaluate", "--model", edited, "--data", data), "do not match its checksum");
        Assert.AreEqual(0, Run("evaluate", "--model", model, "--data", data).ExitCode, "The unedited model still loads.");
    }

    static byte[] Read(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    [TestMethod]
    [Timeout(300_000)]
    public void SweepChecksItsFixedOptionsBeforeTheFirstTrial()
    {
        string data = Path.Combine(folder, "data");
        SyntheticFolder(data, classes: 2, perClass: 10);
        string[] Sweep(params string[] extra) => ["sweep", "--data", data, "--epochs", "1", "--out", Path.Combine(folder, $"sweep{Guid.NewGuid():N}"),
            .. extra.Contains("--time") ? extra : [.. extra, "--time", "600"]];
        AssertOneLineError(Run(Sweep("--devices", "bogus")), "--devices 'bogus'");
        AssertOneLineError(Run(Sweep("--device", "cpu:3")), "--device 'cpu:3'");
        AssertOneLineError(Run(Sweep("--devices", ",")), "--devices ',' names no device");
        AssertOneLineError(Run(Sweep("--devices", "cpu,cuda:7")), "--devices 'cuda:7'");
        AssertOneLineError(Run(Sweep("--threads", "-1")), "--threads must be 0");
        AssertOneLineError(Run(Sweep("--image-size", "5000")), "the limit is 4096 a side");
        AssertOneLineError(Run(Sweep("--time", "0")), "--time must be at least 1 second");
        AssertOneLineError(Run(Sweep("--max-trials", "0")), "--max-trials must be positive");

        string project = Path.Combine(folder, "myapp");
        Directory.CreateDirectory(project);
        File.WriteAllText(Path.Combine(project, "Program.cs"), "// the user's program");
        AssertOneLineError(Run(Sweep("--generate", project)), "--generate");
        Assert.AreEqual("// the user's program", File.ReadAllText(Path.Combine(project, "Program.cs")));
    }

    [TestMethod]
    public void ASweepResumesOnlyOnItsOwnDataAndFromACopiedFolder()
    {
        string data = Path.Combine(folder, "data"), swapped = Path.Combine(folder, "swapped"), output = Path.Combine(folder, "sweep");
        SyntheticFolder(data, classes: 2, perClass: 10);
        SyntheticFolder(swapped, classes: 2, perClass: 10);
        Directory.Move(Path.Combine(swapped, "class000"), Path.Combine(swapped, "moved"));
        Directory.Move(Path.Combine(swapped, "class001"), Path.Combine(swapped, "class000"));
        Directory.Move(Path.Combine(swapped, "moved"), Path.Combine(swapped, "class001"));
        string[] Sweep(string images, string outFolder, params string[] extra) => ["sweep", "--data", images, "--time", "120", "--epochs", "1",
            "--max-trials", "1", "--image-size", "16", "--out", outFolder, .. extra];
        var first = Run(Sweep(data, output));
        Assert.AreEqual(0, first.ExitCode, first.Errors);
        AssertOneLineError(Run(Sweep(swapped, output, "--resume")), "training data");

        // A copy of the experiment resumes with its own best model, even once the original is gone.
        string copy = Path.Combine(folder, "copy");
        CopyFolder(output, copy);
        Directory.Delete(output, recursive: true);
        var resumed = Run(Sweep(data, copy, "--resume"));
        Assert.AreEqual(0, resumed.ExitCode, resumed.Errors);

        string best = Path.Combine(copy, "experiment", "best-model.zip");
        File.WriteAllBytes(best, File.ReadAllBytes(best)[..1000]);
        AssertOneLineError(Run(Sweep(data, copy, "--resume")), "cannot be read");

        File.WriteAllText(Path.Combine(copy, "experiment", "experiment.db"), "not a database at all, but long enough to be read as one.....");
        AssertOneLineError(Run(Sweep(data, copy, "--resume")), "experiment.db");
    }

    static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
