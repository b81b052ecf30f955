using Microsoft.ML;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;
using SkiaSharp;

namespace Sape2.Cli;

/// <summary>One labelled image: encoded bytes plus where it came from.</summary>
internal sealed class ImageRow
{
    public byte[] Image { get; set; } = Array.Empty<byte>();
    public string Label { get; set; } = "";
    public string Source { get; set; } = "";
}

/// <summary>Reads the inputs the tool accepts into rows: image folders, IDX files and CIFAR binaries.</summary>
internal static class ImageRows
{
    /// <summary>The embedded sample data, found from the working directory or the tool's own folder.</summary>
    public static string? EmbeddedData()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "Samples", "data", "fashion-mnist-mini");
                if (Directory.Exists(candidate)) return candidate;
            }
        return null;
    }

    /// <summary>
    /// Every image of a class-per-folder tree. The library's <see cref="ImageFolder"/> checks the folder rules and
    /// decodes every image once (to 1×1, cheaply), so a bad file is named before training starts.
    /// </summary>
    public static List<ImageRow> FromFolder(string root, long? maxPixels = null)
    {
        var dataset = ImageFolder.Load(root, Probe(maxPixels)).Dataset;
        return Enumerable.Range(0, dataset.Count).Select(i => new ImageRow
        {
            Image = File.ReadAllBytes(dataset.Sources[i]), Label = dataset.ClassNames[dataset.Labels[i]], Source = dataset.Sources[i],
        }).ToList();
    }

    /// <summary>
    /// Unlabelled rows of <paramref name="files"/>, each read once and decoded once to 1×1 as <see cref="FromFolder"/>
    /// does, so a bad file is named with the reason before anything is scored.
    /// </summary>
    public static List<ImageRow> FromFiles(IEnumerable<string> files, long maxPixels)
    {
        var probe = Probe(maxPixels);
        return files.Select(file =>
        {
            var bytes = File.ReadAllBytes(file);
            ImageDecoder.Decode(bytes, probe, file);
            return new ImageRow { Image = bytes, Source = file };
        }).ToList();
    }

    /// <summary>The cheapest decode that still reads every pixel: 1×1 gray, under <paramref name="maxPixels"/> (null: the default).</summary>
    private static ImageFormat Probe(long? maxPixels)
    {
        var probe = new ImageFormat { Height = 1, Width = 1, Channels = 1 };
        return probe with { MaxPixels = maxPixels ?? probe.MaxPixels };
    }

    /// <summary>Rows from an ImageDataset (IDX, CIFAR), re-encoded as PNG so every input takes the same path.</summary>
    public static List<ImageRow> FromDataset(ImageDataset dataset)
    {
        var format = dataset.Format;
        return Enumerable.Range(0, dataset.Count).AsParallel().AsOrdered().Select(i =>
        {
            using var bitmap = new SKBitmap(format.Width, format.Height);
            var pixels = dataset.Image(i);
            int plane = format.Width * format.Height;
            for (int p = 0; p < plane; p++)
            {
                byte r = pixels[p], g = format.Channels == 3 ? pixels[plane + p] : r, b = format.Channels == 3 ? pixels[2 * plane + p] : r;
                bitmap.SetPixel(p % format.Width, p / format.Width, new SKColor(r, g, b));
            }
            using var image = SKImage.FromBitmap(bitmap);
            return new ImageRow { Image = image.Encode(SKEncodedImageFormat.Png, 100).ToArray(), Label = dataset.ClassNames[dataset.Labels[i]],
                Source = dataset.Sources[i] };
        }).ToList();
    }

    /// <summary>
    /// Stratified split: every <paramref name="every"/>-th image of each class goes to the second part, and a class
    /// too small for that but with three images or more gives its last one.
    /// </summary>
    public static (List<ImageRow> First, List<ImageRow> Second) Split(List<ImageRow> rows, int every)
    {
        var first = new List<ImageRow>();
        var second = new List<ImageRow>();
        foreach (var group in rows.GroupBy(r => r.Label).Select(g => g.ToList()))
            for (int i = 0; i < group.Count; i++)
            {
                bool held = i % every == every - 1 || (group.Count < every && group.Count >= 3 && i == group.Count - 1);
                (held ? second : first).Add(group[i]);
            }
        return (first, second);
    }

    public static IDataView ToDataView(MLContext ml, IEnumerable<ImageRow> rows) => ml.Data.LoadFromEnumerable(rows);
}
