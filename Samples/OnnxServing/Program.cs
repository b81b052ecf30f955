// Classifies images with a SaPE² model exported to ONNX, using ML.NET's own image pipeline and ONNX Runtime:
//   dotnet run --project Samples/OnnxServing -- model.onnx <image file or folder> ...
// The model's input size, channels and class names come from the ONNX file itself.
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms.Image;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: OnnxServing model.onnx <image file or folder> ...");
    return 2;
}
string modelPath = args[0];
var images = args.Skip(1).SelectMany<string, string>(path => Directory.Exists(path)
        ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(IsImage).Order(StringComparer.Ordinal)
        : new[] { path })
    .Select(Path.GetFullPath).ToList();

// What the exported graph takes and names: (batch, channels, height, width) pixels, and the classes in its metadata.
int channels, height, width;
string[] classes;
using (var session = new InferenceSession(modelPath))
{
    var dims = session.InputMetadata["pixels"].Dimensions;
    (channels, height, width) = (dims[1], dims[2], dims[3]);
    classes = JsonSerializer.Deserialize<string[]>(session.ModelMetadata.CustomMetadataMap["sape2.classes"])!;
}

var ml = new MLContext();
var data = ml.Data.LoadFromEnumerable(images.Select(path => new ImageRow { ImagePath = path }));
// A one-channel model reads the luma as the red plane of a grayscale image; ExtractPixels writes channel-major 0–255 floats.
IEstimator<ITransformer> pixels = channels == 1
    ? ml.Transforms.ConvertToGrayscale("Image").Append(ml.Transforms.ExtractPixels("pixels", "Image", ImagePixelExtractingEstimator.ColorBits.Red))
    : ml.Transforms.ExtractPixels("pixels", "Image");
var pipeline = ml.Transforms.LoadImages("Image", imageFolder: "", inputColumnName: nameof(ImageRow.ImagePath))
    .Append(ml.Transforms.ResizeImages("Image", width, height))
    .Append(pixels)
    .Append(ml.Transforms.ApplyOnnxModel("scores", "pixels", modelPath));
using var model = pipeline.Fit(data);

var scored = model.Transform(data);
var scores = scored.GetColumn<float[]>("scores").ToArray();
for (int i = 0; i < images.Count; i++)
{
    int best = Array.IndexOf(scores[i], scores[i].Max());
    Console.WriteLine($"{Path.GetFileName(images[i]),-28} predicted {classes[best]} ({scores[i][best]:P1})");
}
// Images in class-named folders (as `sape2 train` reads them) carry their answer: report the accuracy on those.
var labelled = Enumerable.Range(0, images.Count).Where(i => classes.Contains(Path.GetFileName(Path.GetDirectoryName(images[i])))).ToList();
if (labelled.Count > 0)
{
    int right = labelled.Count(i => classes[Array.IndexOf(scores[i], scores[i].Max())] == Path.GetFileName(Path.GetDirectoryName(images[i])));
    Console.WriteLine($"Accuracy on the {labelled.Count} images in class-named folders: {right / (double)labelled.Count:P1}");
}
return 0;

static bool IsImage(string path) => Path.GetExtension(path).ToLowerInvariant() is ".png" or ".jpg" or ".jpeg" or ".bmp" or ".gif" or ".webp";

/// <summary>One image to classify.</summary>
sealed class ImageRow
{
    public string ImagePath { get; set; } = "";
}
