// Classifies images with a SaPE² model exported to ONNX, using ML.NET's ONNX transform and ONNX Runtime:
//   dotnet run --project Samples/OnnxServing -- model.onnx <image file or folder> ...
// The model's input size, channels and class names come from the ONNX file itself.
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: OnnxServing model.onnx <image file or folder> ...");
    return 2;
}
string modelPath = args[0];
// Everything is checked before the first image is scored: the model file, then every image (each problem named on one line).
if (!File.Exists(modelPath)) return Fail($"the model '{modelPath}' does not exist; pass the .onnx file 'sape2 export --onnx' wrote.");

// What the exported graph takes and names: (batch, channels, height, width) pixels, and the classes in its metadata.
int channels, height, width;
string[] classes;
bool keepAspect;
try
{
    using var session = new InferenceSession(modelPath);
    var dims = session.InputMetadata["pixels"].Dimensions;
    (channels, height, width) = (dims[1], dims[2], dims[3]);
    classes = JsonSerializer.Deserialize<string[]>(session.ModelMetadata.CustomMetadataMap["sape2.classes"])!;
    // Models trained on centre crops (photos on a pretrained network) are served centre crops; files exported before the key: stretched.
    keepAspect = session.ModelMetadata.CustomMetadataMap.TryGetValue("sape2.keep_aspect", out var crop) && crop == "true";
}
catch (Exception e) when (e is OnnxRuntimeException or KeyNotFoundException or JsonException)
{
    return Fail($"'{modelPath}' is not a SaPE² model exported to ONNX ({e.Message.Split('\n')[0]}).");
}

var images = new List<string>();
foreach (var path in args.Skip(1))
{
    if (Directory.Exists(path))
        images.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(IsImage).Order(StringComparer.Ordinal)
            .Select(Path.GetFullPath));
    else if (File.Exists(path)) images.Add(Path.GetFullPath(path));
    else return Fail($"'{path}' is neither an image file nor a folder.");
}
if (images.Count == 0) return Fail($"no images (.png, .jpg, .jpeg, .bmp, .gif, .webp) in {string.Join(", ", args.Skip(1))}.");

// Images are decoded here rather than by ML.NET's LoadImages, which ignores the EXIF orientation: each is turned upright as its
// orientation says (a phone photo stored sideways is upright in every viewer), centre-cropped when the model was trained on crops,
// resized as the library resizes (bilinear) and
// turned into the channel-major 0–255 floats the graph takes; a cut-short file is refused instead of scored with black rows.
var rows = new List<PixelRow>();
var problems = new List<string>();
foreach (var path in images)
{
    try { rows.Add(new PixelRow { Pixels = UprightImage.Pixels(path, channels, height, width, keepAspect) }); }
    catch (InvalidDataException e) { problems.Add(e.Message); }
}
if (problems.Count > 0)
{
    foreach (var problem in problems) Console.Error.WriteLine($"error: {problem}");
    return 1;
}

var ml = new MLContext();
var schema = SchemaDefinition.Create(typeof(PixelRow));
schema["pixels"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, channels * height * width);
var data = ml.Data.LoadFromEnumerable(rows, schema);
var pipeline = ml.Transforms.ApplyOnnxModel("scores", "pixels", modelPath);
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

static int Fail(string message)
{
    Console.Error.WriteLine($"error: {message}");
    return 1;
}

/// <summary>One image to classify, as the graph's input: channel-major 0–255 floats at the model's size.</summary>
sealed class PixelRow
{
    [ColumnName("pixels")]
    public float[] Pixels { get; set; } = [];
}
