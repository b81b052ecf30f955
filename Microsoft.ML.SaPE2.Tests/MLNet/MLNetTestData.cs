using Microsoft.ML;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2;
using SkiaSharp;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>Rows and options shared by the ML.NET tests.</summary>
internal static class MLNetTestData
{
    public sealed class ImagePathRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    /// <summary>A Fashion-MNIST image as ML.NET's ExtractPixels gives it: 784 raw 0–255 values, and its class name.</summary>
    public sealed class PixelRow
    {
        [Microsoft.ML.Data.VectorType(784)] public float[] Pixels { get; set; } = Array.Empty<float>();
        public string Label { get; set; } = "";
    }

    /// <summary><see cref="FashionRows"/> decoded to <see cref="PixelRow"/>s.</summary>
    public static List<PixelRow> PixelRows(string split, int perClass)
    {
        string root = Path.Combine(RepositoryPaths.FashionMnistMini, split);
        var format = new ImageFormat { Height = 28, Width = 28, Channels = 1 };
        return FashionRows(split, perClass).Select(r => new PixelRow
        {
            Label = r.Label,
            Pixels = ImageDecoder.Decode(File.ReadAllBytes(Path.Combine(root, r.ImagePath)), format, r.ImagePath).Select(b => (float)b).ToArray(),
        }).ToList();
    }

    /// <summary>The first <paramref name="perClass"/> images of each class of the embedded Fashion-MNIST subset.</summary>
    public static List<ImagePathRow> FashionRows(string split, int perClass)
    {
        string root = Path.Combine(RepositoryPaths.FashionMnistMini, split);
        return Directory.GetDirectories(root).Order(StringComparer.Ordinal)
            .SelectMany(dir => Directory.GetFiles(dir).Order(StringComparer.Ordinal).Take(perClass)
                .Select(f => new ImagePathRow { ImagePath = Path.GetRelativePath(root, f), Label = Path.GetFileName(dir) }))
            .ToList();
    }

    /// <summary>Rows keyed by MapValueToKey (fitted on them unless <paramref name="keys"/> is given) with their image bytes loaded.</summary>
    public static IDataView Preprocessed(MLContext ml, IEnumerable<ImagePathRow> rows, string imageFolder, ITransformer? keys = null)
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        keys ??= ml.Transforms.Conversion.MapValueToKey("Label").Fit(data);
        var loaded = ml.Transforms.LoadRawImageBytes("Image", imageFolder, "ImagePath").Fit(data).Transform(keys.Transform(data));
        return loaded;
    }

    /// <summary>Quick options: the paper's Micro ViT (linear 7×7 patches, CLS token, truncated-normal), 28×28 grayscale, a few epochs
    /// without augmentation.</summary>
    public static Sape2ImageClassificationTrainer.Options Quick(string label = "Label", string feature = "Image", int epochs = 3) => new()
    {
        LabelColumnName = label, FeatureColumnName = feature, Preset = VitPreset.Micro, ImageSize = 28, PatchSize = 7, Channels = 1,
        Tokenizer = TokenizerKind.Patch, Pooling = PoolingKind.ClassToken, Initialization = WeightInitialization.TruncatedNormal,
        Epochs = epochs, BatchSize = 64, LearningRate = 2e-3, WarmupEpochs = 1,
            Augmentation = AugmentationOptions.None with { RandomCropPadding = 2 },
        LabelSmoothing = 0, Device = "cpu", Seed = 3,
    };

    /// <summary>Writes PNGs of <paramref name="classes"/> distinguishable synthetic classes into class folders; returns rows.</summary>
    public static List<ImagePathRow> SyntheticFolder(string folder, int classes, int perClass,
        SKEncodedImageFormat encoding = SKEncodedImageFormat.Png, bool variedSizes = false)
    {
        var random = new Random(classes);
        var rows = new List<ImagePathRow>();
        for (int c = 0; c < classes; c++)
        {
            Directory.CreateDirectory(Path.Combine(folder, $"class{c:D3}"));
            for (int i = 0; i < perClass; i++)
            {
                int width = variedSizes ? random.Next(40, 400) : 16, height = variedSizes ? random.Next(40, 300) : 16;
                using var bitmap = new SKBitmap(width, height);
                using (var canvas = new SKCanvas(bitmap))
                {
                    canvas.Clear(new SKColor((byte)(37 * c % 256), (byte)(91 * c % 256), (byte)(151 * c % 256)));
                    using var paint = new SKPaint { Color = SKColors.White };
                    canvas.DrawRect(c % 4 * width / 4f, c / 4 % 4 * height / 4f, width / 4f, height / 4f, paint);
                }
                using var image = SKImage.FromBitmap(bitmap);
                using var data = image.Encode(encoding, 90);
                string name = Path.Combine($"class{c:D3}", $"img{i}.{(encoding == SKEncodedImageFormat.Jpeg ? "jpg" : "png")}");
                File.WriteAllBytes(Path.Combine(folder, name), data.ToArray());
                rows.Add(new ImagePathRow { ImagePath = name, Label = $"class{c:D3}" });
            }
        }
        return rows;
    }
}
