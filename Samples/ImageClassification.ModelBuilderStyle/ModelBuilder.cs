using Microsoft.ML;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2;
using SampleClassification.Model;

namespace SampleClassification.ConsoleApp;

// Training code in the shape Model Builder generates, with the SaPE² trainer in place of ImageClassification.
public static class ModelBuilder
{
    private static readonly MLContext mlContext = new(seed: 1);

    public static void CreateModel(string trainFolder, string modelPath)
    {
        // Load data: one row per image file, labelled by its folder.
        IDataView trainingDataView = mlContext.Data.LoadFromEnumerable(LoadImagesFromDirectory(trainFolder));

        // Build the training pipeline.
        IEstimator<ITransformer> trainingPipeline = BuildTrainingPipeline(mlContext);

        // Train the model.
        Console.WriteLine("=============== Training model ===============");
        ITransformer mlModel = trainingPipeline.Fit(trainingDataView);
        Console.WriteLine("=============== End of training process ===============");

        // Save the model.
        SaveModel(mlContext, mlModel, modelPath, trainingDataView.Schema);
    }

    public static IEstimator<ITransformer> BuildTrainingPipeline(MLContext mlContext)
    {
        // Data process configuration with pipeline data transformations.
        var dataProcessPipeline = mlContext.Transforms.Conversion.MapValueToKey("Label", "Label")
            .Append(mlContext.Transforms.LoadRawImageBytes("ImageSource_featurized", null, "ImageSource"))
            .Append(mlContext.Transforms.CopyColumns("Features", "ImageSource_featurized"));

        // Set the training algorithm: a SaPE² vision transformer. Size, model and recipe are chosen from the images
        // (see the log); the time budget keeps this sample short, and the best model within it is kept.
        var trainer = mlContext.MulticlassClassification.Trainers.Sape2ImageClassification(new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = "Label", FeatureColumnName = "Features", TrainingTimeInSeconds = 60,
        })
            .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));

        return dataProcessPipeline.Append(trainer);
    }

    private static void SaveModel(MLContext mlContext, ITransformer mlModel, string modelRelativePath, DataViewSchema modelInputSchema)
    {
        Console.WriteLine($"=============== Saving the model  ===============");
        mlContext.Model.Save(mlModel, modelInputSchema, GetAbsolutePath(modelRelativePath));
        Console.WriteLine("The model is saved to {0}", GetAbsolutePath(modelRelativePath));
    }

    public static string GetAbsolutePath(string relativePath) => Path.GetFullPath(relativePath);

    public static IEnumerable<ModelInput> LoadImagesFromDirectory(string folder) =>
        Directory.GetFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => ImageFolder.ImageExtensions.Contains(Path.GetExtension(f)))
            .Select(f => new ModelInput { Label = Directory.GetParent(f)!.Name, ImageSource = f });
}
