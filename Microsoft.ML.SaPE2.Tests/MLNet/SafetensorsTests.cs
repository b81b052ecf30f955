using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Interop;
using Microsoft.ML.SaPE2.Modeling;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>Weights to and from safetensors with timm's names, round trips and refusals.</summary>
[TestClass]
public sealed class SafetensorsTests
{
    static string folder = "";
    static MLContext ml = null!;
    static IDataView data = null!;
    static ITransformer first = null!, second = null!;

    [ClassInitialize]
    public static void TrainTwo(TestContext _)
    {
        folder = Directory.CreateTempSubdirectory("sape2-safetensors-").FullName;
        ml = new MLContext(seed: 1);
        var rows = SyntheticFolder(folder, classes: 3, perClass: 4);
        var raw = ml.Data.LoadFromEnumerable(rows);
        ITransformer Train(int seed)
        {
            var options = Quick(epochs: 1).WithGrid(16, 4, 3);
            options.Seed = seed;
            return ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.Transforms.LoadRawImageBytes("Image", folder, "ImagePath"))
                .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(options)).Fit(raw);
        }
        (first, second) = (Train(1), Train(2));
        data = raw;
    }

    [ClassCleanup]
    public static void DeleteFolder()
    {
        foreach (var model in new[] { first, second }) (model as IDisposable)?.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    static float[] Scores(ITransformer model) =>
        model.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s).ToArray();

    [TestMethod]
    public void ARoundTripThroughAFileGivesTheSameScoresBitForBit()
    {
        string file = Path.Combine(folder, "first.safetensors");
        ml.Model.SaveSafetensors(first, file);
        var imported = ml.Model.LoadSafetensors(second, file);   // the second model's columns and classes, the first one's weights
        try
        {
            CollectionAssert.AreNotEqual(Scores(first), Scores(second), "The two models must differ for the test to mean anything.");
            CollectionAssert.AreEqual(Scores(first), Scores(imported));
            string zip = Path.Combine(folder, "imported.zip");
            ml.Model.Save(imported, data.Schema, zip);
            var reloaded = ml.Model.LoadSape2Model(zip, out _);
            CollectionAssert.AreEqual(Scores(first), Scores(reloaded), "…and after saving the imported model as a model.zip");
            (reloaded as IDisposable)?.Dispose();
        }
        finally
        {
            ((IEnumerable<ITransformer>)imported).OfType<Sape2ImageClassificationTransformer>().Single().Dispose();
        }
        var (entries, metadata) = SafetensorsFile.Read(file);
        Assert.AreEqual("pt", metadata["format"]);
        StringAssert.Contains(metadata["sape2.config"], "\"PositionEncoding\"");
        CollectionAssert.Contains(entries.Select(e => e.Name).ToList(), "blocks.0.attn.sape2.table_x");
    }

    /// <summary>Every encoding's names and shapes for one small architecture, as TestData/safetensors-names.txt pins them.</summary>
    static string Listing()
    {
        var text = new StringBuilder();
        foreach (var (encoding, ape) in new[] { (PositionEncodingKind.Absolute, true), (PositionEncodingKind.None, false),
            (PositionEncodingKind.Sincos2D, false), (PositionEncodingKind.RopeAxial, false), (PositionEncodingKind.RopeMixed, true),
            (PositionEncodingKind.Cope, true), (PositionEncodingKind.Sape2, true), (PositionEncodingKind.Sape2, false) })
        {
            var config = new VitConfig
            {
                ImageHeight = 16, ImageWidth = 16, PatchSize = 4, InChannels = 1, NumClasses = 3, EmbedDim = 16, Depth = 1, NumHeads = 2,
                PositionEncoding = encoding, AbsolutePosition = ape, Pooling = PoolingKind.ClassToken, Tokenizer = TokenizerKind.Patch,
            };
            string folderName = Path.Combine(folder, $"{encoding}{ape}");
            using var model = new VisionTransformer(config);
            var classifier = new SaPE2.Training.ImageClassifier(model, new SaPE2.Data.ImageFormat { Height = 16, Width = 16, Channels = 1 },
                new Normalization([0.5f], [0.5f]), ["a", "b", "c"], []);
            var transformer = new Sape2ImageClassificationTransformer(ml, classifier, "Image",
                new DataViewSchema.DetachedColumn("Label", NumberDataViewType.UInt32), "Score", "PredictedLabel");
            string file = folderName + ".safetensors";
            ml.Model.SaveSafetensors(transformer, file);
            foreach (var entry in SafetensorsFile.Read(file).Entries)
            {
                string label = $"{encoding}{(ape && encoding != PositionEncodingKind.Absolute ? "+APE" : "")}";
                text.AppendLine($"{label}\t{entry.Name}\t{entry.ShapeText}\t{entry.DType}");
            }
        }
        return text.ToString();
    }

    [TestMethod]
    public void TheNamesAndShapesAreTimmsAndPinned()
    {
        string pinned = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "Microsoft.ML.SaPE2.Tests", "TestData", "safetensors-names.txt"));
        string actual = Listing();
        Assert.AreEqual(pinned.ReplaceLineEndings(), actual.ReplaceLineEndings(),
            $"The exported names or shapes changed; the listing is now:\n{actual}");
        foreach (string timm in new[] { "cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight",
            "blocks.0.attn.proj.bias", "blocks.0.norm2.bias", "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "norm.weight", "head.bias" })
            StringAssert.Contains(pinned, $"Absolute\t{timm}\t", $"timm's {timm}");
    }

    [TestMethod]
    public void MissingExtraOrMisShapedTensorsAreRefusedByName()
    {
        string good = Path.Combine(folder, "good.safetensors");
        ml.Model.SaveSafetensors(first, good);
        var (entries, metadata) = SafetensorsFile.Read(good);

        string Variant(string name, Func<List<SafetensorsEntry>, List<SafetensorsEntry>> change, Dictionary<string, string>? meta = null)
        {
            string path = Path.Combine(folder, name);
            SafetensorsFile.Write(path, change(entries.ToList()), meta ?? metadata);
            return path;
        }
        string Refusal(string path) => Assert.ThrowsExactly<InvalidOperationException>(() => ml.Model.LoadSafetensors(second, path)).Message;

        StringAssert.Contains(Refusal(Variant("missing.safetensors", e => e.Where(x => x.Name != "head.bias").ToList())),
            "lacks 1 of the model's tensors: head.bias [3]");
        StringAssert.Contains(Refusal(Variant("extra.safetensors", e => [.. e, e[0] with { Name = "blocks.9.attn.qkv.weight" }])),
            "blocks.9.attn.qkv.weight");
        var head = entries.Single(e => e.Name == "head.weight");
        StringAssert.Contains(Refusal(Variant("shape.safetensors", e => e.Select(x => x.Name == "head.weight"
            ? x with { Shape = [head.Shape[1], head.Shape[0]] } : x).ToList())), $"Tensor 'head.weight' in");
        StringAssert.Contains(Refusal(Variant("shape.safetensors", e => e.Select(x => x.Name == "head.weight"
            ? x with { Shape = [head.Shape[1], head.Shape[0]] } : x).ToList())), $"is [{head.Shape[1]}, {head.Shape[0]}]; the model's is " +
            $"[{head.Shape[0]}, {head.Shape[1]}]");
        var cope = JsonNode.Parse(metadata["sape2.config"])!;
        cope["PositionEncoding"] = (int)PositionEncodingKind.Cope;
        StringAssert.Contains(Refusal(Variant("other.safetensors", e => e, new(metadata) { ["sape2.config"] = cope.ToJsonString() })),
            "holds a Cope+APE");
        StringAssert.Contains(Refusal(Variant("classes.safetensors", e => e, new(metadata) { ["sape2.classes"] = "[\"x\",\"y\",\"z\"]" })),
            "trained on the classes [x, y, z]");

        string cut = Path.Combine(folder, "cut.safetensors");
        File.WriteAllBytes(cut, File.ReadAllBytes(good)[..^10]);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ml.Model.LoadSafetensors(second, cut)).Message,
            "is not a readable safetensors file");
        Assert.IsFalse(Directory.EnumerateFiles(folder, "*.tmp").Any(), "No temporary file is left behind.");
    }
}
