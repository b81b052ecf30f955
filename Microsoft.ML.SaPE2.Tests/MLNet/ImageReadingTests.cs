using Microsoft.ML.Data;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>
/// Each image is read and decoded once, by the trainer or the transformer, so a bad one is found there; its
/// exception says the row, the column and the data view, which lets a program that built the view (the CLI) name the file.
/// </summary>
[TestClass]
public sealed class ImageReadingTests
{
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-bad-image-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    [TestMethod]
    public void ABadImageNamesItsRowColumnAndDataView()
    {
        var rows = FashionRows("train", 3);
        string source = Path.Combine(RepositoryPaths.FashionMnistMini, "train");
        foreach (var row in rows)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(folder, row.ImagePath))!);
            File.Copy(Path.Combine(source, row.ImagePath), Path.Combine(folder, row.ImagePath));
        }
        const int badRow = 5;
        var png = File.ReadAllBytes(Path.Combine(folder, rows[badRow].ImagePath));
        File.WriteAllBytes(Path.Combine(folder, rows[badRow].ImagePath), png[..(png.Length / 2)]);

        var ml = new MLContext(seed: 1);
        var good = Preprocessed(ml, FashionRows("train", 3), source);
        var bad = Preprocessed(ml, rows, folder);
        var trainer = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1));

        var training = Assert.ThrowsExactly<InvalidImageException>(() => trainer.Fit(bad));
        AssertLocated(training, InvalidImageException.TrainingData);
        var validation = Assert.ThrowsExactly<InvalidImageException>(() => trainer.Fit(good, bad));
        AssertLocated(validation, InvalidImageException.ValidationData);

        using var model = trainer.Fit(good);
        // Scoring runs on ML.NET's cursors, which may wrap it ("Splitter/consolidator worker encountered exception…").
        var scoring = Assert.Throws<InvalidOperationException>(() => model.Transform(bad).GetColumn<float[]>("Score").ToList());
        while (scoring is not InvalidImageException && scoring.InnerException is InvalidOperationException inner) scoring = inner;
        AssertLocated(Assert.IsInstanceOfType<InvalidImageException>(scoring), dataName: null);

        static void AssertLocated(InvalidImageException e, string? dataName)
        {
            Assert.AreEqual(badRow, e.Row);
            Assert.AreEqual("Image", e.Column);
            Assert.AreEqual(dataName, e.DataName);
            StringAssert.StartsWith(e.Message, $"Image 'row {badRow} of column 'Image'");
            Assert.AreEqual($"Image '{e.ImageName}' {e.Problem}", e.Message);
        }
    }

    public sealed class PathInput
    {
        public string ImagePath { get; set; } = "";
    }

    public sealed class BytesOutput
    {
        public byte[] Image { get; set; } = [];
    }

    [TestMethod]
    public void TransformAndEvaluateReadEachImageOnce()
    {
        // A counting file reader in LoadRawImageBytes' place: an ML.NET transform, so, like it, it reads when the getter is called.
        var ml = new MLContext(seed: 1);
        string root = Path.Combine(RepositoryPaths.FashionMnistMini, "train");
        var raw = ml.Data.LoadFromEnumerable(FashionRows("train", 5));
        int reads = 0;
        var data = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.CustomMapping<PathInput, BytesOutput>((input, output) =>
            {
                Interlocked.Increment(ref reads);
                output.Image = File.ReadAllBytes(Path.Combine(root, input.ImagePath));
            }, contractName: null))
            .Fit(raw).Transform(raw);
        using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1)).Fit(data);

        Interlocked.Exchange(ref reads, 0);
        Assert.AreEqual(50, model.Transform(data).GetColumn<float[]>("Score").Count());
        Assert.AreEqual(50, reads, "Transform read some files more than once.");
        Interlocked.Exchange(ref reads, 0);
        ml.MulticlassClassification.Evaluate(model.Transform(data));
        Assert.AreEqual(50, reads, "Evaluate read some files more than once.");

        // Only an input column asked for: no image is read, and a filter upstream (whose cursor refuses inactive columns) is fine.
        Interlocked.Exchange(ref reads, 0);
        var filtered = ml.Data.FilterRowsByKeyColumnFraction(data, "Label", 0, 1);
        Assert.AreEqual(50, model.Transform(filtered).GetColumn<uint>("Label").Count());
        Assert.AreEqual(0, reads, "Reading the label alone read images.");
    }
}
