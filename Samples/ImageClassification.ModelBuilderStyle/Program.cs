using SampleClassification.ConsoleApp;
using SampleClassification.Model;

// A Model Builder-style image classification app with the SaPE² trainer: train on the embedded Fashion-MNIST
// subset, save MLModel.zip, then predict one held-out image through ConsumeModel.Predict.
// Run from the repository root: dotnet run --project Samples/ImageClassification.ModelBuilderStyle
string data = args.Length > 0 ? args[0] : Path.Combine("Samples", "data", "fashion-mnist-mini");
if (!Directory.Exists(data))
{
    Console.Error.WriteLine($"error: data folder '{data}' not found; run from the repository root or pass the folder holding train/ and test/.");
    return 1;
}
ModelBuilder.CreateModel(Path.Combine(data, "train"), ConsumeModel.MLNetModelPath);

// Create a single piece of sample data and predict it.
string image = Directory.GetFiles(Path.Combine(data, "test", "Trouser")).Order().First();
ModelInput sampleData = new ModelInput { ImageSource = image };
ModelOutput predictionResult = ConsumeModel.Predict(sampleData);
Console.WriteLine($"Using model to make single prediction -- Comparing actual Label with predicted Label from sample data...\n\n");
Console.WriteLine($"ImageSource: {Path.GetFileName(sampleData.ImageSource)} (actual: Trouser)");
Console.WriteLine($"\n\nPredicted Label value {predictionResult.Prediction} \nPredicted Label scores: " +
    $"[{string.Join(",", predictionResult.Score.Select(s => s.ToString("F3")))}]\n\n");
// Expected output (8 epochs on 2 CPU cores, about a minute):
//   Predicted Label value Trouser
//   Predicted Label scores: [...] (ten probabilities, the largest for Trouser)
return 0;
