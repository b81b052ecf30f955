using Microsoft.ML;
using Microsoft.ML.SaPE2;
using SkiaSharp;

// Trains on 40 generated images (dark against bright) and prints the training accuracy: enough to load libtorch.
var rows = Enumerable.Range(0, 40).Select(i => new Row { Image = Png(i % 2 == 0 ? 40 : 210, i), Label = i % 2 == 0 ? "dark" : "bright" });
var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromEnumerable(rows.ToList());
var options = new Sape2ImageClassificationTrainer.Options { FeatureColumnName = "Image", ImageSize = 16, Epochs = 3, Device = "cpu" };
var model = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.MulticlassClassification.Trainers.Sape2ImageClassification(options)).Fit(data);
double accuracy = ml.MulticlassClassification.Evaluate(model.Transform(data)).MicroAccuracy;
Console.WriteLine($"consumer outside the repository: trained and scored, training accuracy {accuracy:P0}");

static byte[] Png(int level, int seed)
{
    var random = new Random(seed);
    using var bitmap = new SKBitmap(16, 16);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
        {
            byte v = (byte)Math.Clamp(level + random.Next(-30, 30), 0, 255);
            bitmap.SetPixel(x, y, new SKColor(v, v, v));
        }
    using var image = SKImage.FromBitmap(bitmap);
    return image.Encode(SKEncodedImageFormat.Png, 100).ToArray();
}

internal sealed class Row
{
    public byte[] Image { get; set; } = Array.Empty<byte>();
    public string Label { get; set; } = "";
}
