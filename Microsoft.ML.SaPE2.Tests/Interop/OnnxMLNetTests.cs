using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.Transforms.Image;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.Interop;

/// <summary>The ML.NET ways: ConvertToOnnx through the transformer's ONNX hook, and serving with ML.NET's own image
/// pipeline and ApplyOnnxModel, no TorchSharp in the scoring.</summary>
[TestClass]
public sealed class OnnxMLNetTests
{
    static readonly string TestFolder = Path.Combine(RepositoryPaths.FashionMnistMini, "test");


    [TestMethod]
    public void ConvertToOnnxExportsAPipelineTrainedOnPixelVectors()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(PixelRows("train", 8));
        var test = ml.Data.LoadFromEnumerable(PixelRows("test", 3));
        var model = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(feature: "Pixels", epochs: 1)))
            .Fit(train);
        try
        {
            var scored = model.Transform(test);
            var expected = scored.GetColumn<float[]>("Score").ToArray();
            var expectedKeys = scored.GetColumn<uint>("PredictedLabel").ToArray();
            using var stream = new MemoryStream();
            ml.Model.ConvertToOnnx(model, test, stream);

            using var session = new InferenceSession(stream.ToArray());
            var rows = ml.Data.CreateEnumerable<PixelRow>(test, reuseRowObject: false).ToArray();
            var pixels = new DenseTensor<float>(rows.SelectMany(r => r.Pixels).ToArray(), new[] { rows.Length, 784 });
            var labels = new DenseTensor<string>(rows.Select(r => r.Label).ToArray(), new[] { rows.Length, 1 });
            using var results = session.Run(new[]
                { NamedOnnxValue.CreateFromTensor("Pixels", pixels), NamedOnnxValue.CreateFromTensor("Label", labels) });
            var scores = results.Single(r => r.Name == "Score.output").AsTensor<float>().ToArray();
            var keys = results.Single(r => r.Name == "PredictedLabel.output").AsTensor<uint>().ToArray();
            double worst = expected.SelectMany(s => s).Zip(scores, (a, b) => Math.Abs(a - b)).Max();
            Assert.IsTrue(worst <= 1e-4, $"ConvertToOnnx's graph differs from the transformer by up to {worst:E2}.");
            CollectionAssert.AreEqual(expectedKeys, keys);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    [TestMethod]
    public void ConvertToOnnxOfAPipelineOnImageBytesSaysWhatItNeeds()
    {
        var ml = new MLContext(seed: 1);
        var data = Preprocessed(ml, FashionRows("train", 2), Path.Combine(RepositoryPaths.FashionMnistMini, "train"));
        var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1)).Fit(data);
        try
        {
            using var stream = new MemoryStream();
            var error = Assert.Throws<Exception>(() => ml.Model.ConvertToOnnx(model, data, stream));
            StringAssert.Contains(error.Message, "'Image'");
            StringAssert.Contains(error.Message, "ExtractPixels");
        }
        finally
        {
            model.Dispose();
        }
    }

    [TestMethod]
    public void PixelVectorsThatAreNotTheModelsPixelsAreRefusedByRow()
    {
        var ml = new MLContext(seed: 1);
        var rows = PixelRows("train", 2);
        var model = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(feature: "Pixels", epochs: 1)))
            .Fit(ml.Data.LoadFromEnumerable(rows));
        try
        {
            rows[1].Pixels[5] = 0.5f;   // ExtractPixels with scaleImage 1/255 would give such values
            var error = Assert.Throws<InvalidImageException>(() =>
                model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToArray());
            Assert.AreEqual(1L, error.Row);
            StringAssert.Contains(error.Message, "pixel value 0.5 at index 5");
            var shortRow = new[] { new ShortPixelRow { Pixels = new float[100] } };
            var mismatch = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
                model.LastTransformer.Transform(ml.Data.LoadFromEnumerable(shortRow)));
            StringAssert.Contains(mismatch.Message, "'Pixels': the model takes 1×28×28 = 784 pixel values; the column holds 100");
        }
        finally
        {
            model.Dispose();
        }
    }

    public sealed class ShortPixelRow
    {
        [VectorType(100)] public float[] Pixels { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void AFailedExportLeavesTheExistingFileAsItWas()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1))
            .Fit(Preprocessed(ml, FashionRows("train", 2), Path.Combine(RepositoryPaths.FashionMnistMini, "train")));
        string folder = Directory.CreateTempSubdirectory("sape2-onnx-").FullName, file = Path.Combine(folder, "model.onnx");
        try
        {
            File.WriteAllText(file, "the user's earlier export");
            model.Dispose();
            Assert.ThrowsExactly<ObjectDisposedException>(() => Sape2Onnx.Export(model, file));
            Assert.AreEqual("the user's earlier export", File.ReadAllText(file));
            CollectionAssert.AreEqual(new[] { file }, Directory.GetFiles(folder), "no temporary file is left behind");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void MLNetsImagePipelineServesTheExportedModelWithoutTorchSharp()
    {
        var ml = new MLContext(seed: 1);
        var data = Preprocessed(ml, FashionRows("train", 8), Path.Combine(RepositoryPaths.FashionMnistMini, "train"));
        var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(Quick(epochs: 1)).Fit(data);
        string file = Path.Combine(Directory.CreateTempSubdirectory("sape2-onnx-").FullName, "model.onnx");
        try
        {
            Sape2Onnx.Export(model, file);
            var testRows = ml.Data.LoadFromEnumerable(FashionRows("test", 5));
            var expected = model.Transform(Preprocessed(ml, FashionRows("test", 5), TestFolder)).GetColumn<float[]>("Score").ToArray();
            var serving = ml.Transforms.LoadImages("Image", TestFolder, "ImagePath")
                .Append(ml.Transforms.ResizeImages("Image", 28, 28))
                .Append(ml.Transforms.ExtractPixels(Sape2Onnx.InputName, "Image", ImagePixelExtractingEstimator.ColorBits.Red))
                .Append(ml.Transforms.ApplyOnnxModel(Sape2Onnx.ScoresName, Sape2Onnx.InputName, file));
            using var servingModel = serving.Fit(testRows);
            var actual = servingModel.Transform(testRows).GetColumn<float[]>(Sape2Onnx.ScoresName).ToArray();
            double worst = expected.SelectMany(s => s).Zip(actual.SelectMany(s => s), (a, b) => Math.Abs(a - b)).Max();
            int agree = expected.Zip(actual, (e, a) => Array.IndexOf(e, e.Max()) == Array.IndexOf(a, a.Max()) ? 1 : 0).Sum();
            Assert.AreEqual(expected.Length, agree, "top-1 through ML.NET's LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel");
            Assert.IsTrue(worst <= 1e-4, $"The served scores differ from the transformer's by up to {worst:E2}.");
        }
        finally
        {
            model.Dispose();
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }
}
