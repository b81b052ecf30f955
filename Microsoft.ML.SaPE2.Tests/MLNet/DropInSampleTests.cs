using Microsoft.ML;
using Microsoft.ML.Data;
using SkiaSharp;
using static Microsoft.ML.SaPE2.Tests.MLNet.MLNetTestData;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>
/// ML.NET's published image-classification training sample ("DeepLearning_ImageClassification_Training"), with
/// only the trainer's method name changed: ImageClassification → Sape2ImageClassification, default options.
/// </summary>
[TestClass]
public sealed class DropInSampleTests
{
    public TestContext TestContext { get; set; } = null!;

    class ImageData
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    class ModelInput
    {
        public byte[] Image { get; set; } = Array.Empty<byte>();
        public uint LabelAsKey { get; set; }
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    class ModelOutput
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void PublishedSampleRunsWithOnlyTheMethodNameChanged()
    {
        string assetsRelativePath = Directory.CreateTempSubdirectory("sape2-dropin-").FullName;
        try
        {
            // Photos: JPEGs of varied sizes and aspect ratios, in one folder per class.
            var images = SyntheticFolder(assetsRelativePath, classes: 2, perClass: 25, SKEncodedImageFormat.Jpeg, variedSizes: true)
                .Select(r => new ImageData { ImagePath = Path.Combine(assetsRelativePath, r.ImagePath), Label = r.Label });

            MLContext mlContext = new MLContext(seed: 1);
            IDataView imageData = mlContext.Data.LoadFromEnumerable(images);
            IDataView shuffledData = mlContext.Data.ShuffleRows(imageData);
            var preprocessingPipeline = mlContext.Transforms.Conversion.MapValueToKey(
                    inputColumnName: "Label", outputColumnName: "LabelAsKey",
                        keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
                .Append(mlContext.Transforms.LoadRawImageBytes(outputColumnName: "Image", imageFolder: assetsRelativePath,
                    inputColumnName: "ImagePath"));
            IDataView preProcessedData = preprocessingPipeline.Fit(shuffledData).Transform(shuffledData);
            DataOperationsCatalog.TrainTestData trainSplit = mlContext.Data.TrainTestSplit(data: preProcessedData, testFraction: 0.3);
            DataOperationsCatalog.TrainTestData validationTestSplit = mlContext.Data.TrainTestSplit(trainSplit.TestSet);
            IDataView trainSet = trainSplit.TrainSet;
            IDataView validationSet = validationTestSplit.TrainSet;
            IDataView testSet = validationTestSplit.TestSet;

            var trainingPipeline = mlContext.MulticlassClassification.Trainers.Sape2ImageClassification(   // the only change
                    labelColumnName: "LabelAsKey", featureColumnName: "Image", validationSet: validationSet)
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
            ITransformer trainedModel = trainingPipeline.Fit(trainSet);

            PredictionEngine<ModelInput, ModelOutput> predictionEngine = mlContext.Model.CreatePredictionEngine<ModelInput,
                ModelOutput>(trainedModel);
            ModelInput image = mlContext.Data.CreateEnumerable<ModelInput>(testSet, reuseRowObject: true).First();
            ModelOutput prediction = predictionEngine.Predict(image);
            TestContext.WriteLine($"Image: {Path.GetFileName(image.ImagePath)} | Actual Value: {image.Label} | Predicted Value: " +
                $"{prediction.PredictedLabel}");
            CollectionAssert.Contains(new[] { "class000", "class001" }, prediction.PredictedLabel);
            Assert.AreEqual(2, prediction.Score.Length);

            IDataView predictionData = trainedModel.Transform(testSet);
            var metrics = mlContext.MulticlassClassification.Evaluate(predictionData, labelColumnName: "LabelAsKey");
            TestContext.WriteLine($"micro accuracy {metrics.MicroAccuracy:P0} on {predictionData.GetColumn<string>("PredictedLabel").Count()} " +
                $"test photos");
            // Evaluate agrees with the predictions themselves: each predicted name against the row's own label.
            var predicted = predictionData.GetColumn<string>("PredictedLabel").ToList();
            var truth = predictionData.GetColumn<string>("Label").ToList();
            Assert.IsTrue(predicted.Count > 0, "No test photos were scored.");
            Assert.AreEqual(predicted.Zip(truth).Count(p => p.First == p.Second) / (double)predicted.Count, metrics.MicroAccuracy, 1e-9,
                "micro accuracy from the predictions");
        }
        finally
        {
            Directory.Delete(assetsRelativePath, recursive: true);
        }
    }
}
