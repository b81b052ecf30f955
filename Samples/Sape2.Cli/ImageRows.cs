using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Data;

namespace Sape2.Cli;

/// <summary>
/// One labelled image: a file's encoded bytes, or one record of an IDX or CIFAR file, whose decoded pixels reach the
/// trainer as an ML.NET image without being encoded again.
/// </summary>
internal sealed class ImageRow
{
    /// <summary>The file's encoded bytes; empty for a record.</summary>
    public byte[] Image { get; init; } = Array.Empty<byte>();
    /// <summary>The record's decoded dataset and index; null for a file.</summary>
    public (ImageDataset Dataset, int Index)? Record { get; init; }
    public string Label { get; init; } = "";
    /// <summary>The file, or the file and record ("train-images.gz#12"), named in messages.</summary>
    public string Source { get; init; } = "";

    /// <summary>The image at the model's <paramref name="format"/>.</summary>
    public byte[] ModelPixels(ImageFormat format)
    {
        if (Record is not var (dataset, index)) return ImageDecoder.Decode(Image, format, Source);
        var stored = dataset.Format;
        return ImageDecoder.FromPlanar(dataset.Image(index), stored.Channels, stored.Height, stored.Width, format, Source);
    }

    /// <summary>The record as an ML.NET image (RGBA), made when the trainer reads the row.</summary>
    public MLImage ToMLImage()
    {
        var (dataset, index) = Record!.Value;
        var stored = dataset.Format;
        return MLImage.CreateFromPixels(stored.Width, stored.Height, MLPixelFormat.Rgba32,
            ImageDecoder.PlanarToRgba(dataset.Image(index), stored.Channels, stored.Height, stored.Width, Source));
    }

    /// <summary>A file's row in a data view: the bytes in VarVector&lt;Byte&gt; column 'Image', as LoadRawImageBytes gives them.</summary>
    internal sealed class FileRow(ImageRow row)
    {
        public byte[] Image => row.Image;
        public string Label => row.Label;
        public string Source => row.Source;
    }
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
    /// Every image of a class-per-folder tree, by the library's folder rules. Each file is read once and its header
    /// checked (not an image, empty, over <paramref name="maxPixels"/>), so most bad files are named before training
    /// starts; its pixels are decoded once, by the trainer or the model, and a file cut short is named from there
    /// (<see cref="WithFileName"/>).
    /// </summary>
    public static List<ImageRow> FromFolder(string root, long? maxPixels = null)
    {
        var listing = ImageFolder.List(root);
        return FromFiles(listing.Files, maxPixels, i => listing.ClassNames[listing.Labels[i]]);
    }

    /// <summary>Rows of <paramref name="files"/>, each read once and its header checked as <see cref="FromFolder"/> does.</summary>
    public static List<ImageRow> FromFiles(IReadOnlyList<string> files, long? maxPixels = null, Func<int, string>? labelOf = null)
    {
        long limit = maxPixels ?? new ImageFormat().MaxPixels;
        var rows = new ImageRow[files.Count];
        ParallelDecoding.For(files.Count, i =>
        {
            var bytes = File.ReadAllBytes(files[i]);
            ImageDecoder.Probe(bytes, files[i], limit);
            rows[i] = new ImageRow { Image = bytes, Label = labelOf?.Invoke(i) ?? "", Source = files[i] };
        });
        return rows.ToList();
    }

    /// <summary>Rows of an IDX or CIFAR file's records: the decoded pixels stay as they are.</summary>
    public static List<ImageRow> FromDataset(ImageDataset dataset) => Enumerable.Range(0, dataset.Count).Select(i => new ImageRow
    {
        Record = (dataset, i), Label = dataset.ClassNames[dataset.Labels[i]], Source = dataset.Sources[i],
    }).ToList();

    /// <summary>
    /// <paramref name="e"/>, or, when it is a bad image at a row of the view made from <paramref name="rows"/> (the view
    /// <paramref name="dataName"/> of <see cref="InvalidImageException.DataName"/>), the same failure naming the image's file:
    /// a row number does not tell a user which file to replace.
    /// </summary>
    public static Exception WithFileName(Exception e, string? dataName, IReadOnlyList<ImageRow> rows) =>
        Guard.Innermost(e) is InvalidImageException { Row: { } row } bad && bad.DataName == dataName && row < rows.Count
            ? new InvalidOperationException($"Image '{rows[(int)row].Source}' {bad.Problem}", e)
            : e;

    /// <summary>
    /// What identifies <paramref name="rows"/> for a resume: the count, the images per class, and a SHA-256 of every row's label and
    /// image content in order (file bytes, or a record's pixels). Moving or copying the folder keeps it; another image, another label
    /// (two class folders swapped) or another order changes it. One line, so a difference can be named.
    /// </summary>
    public static string Fingerprint(IReadOnlyList<ImageRow> rows)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[8];
        foreach (var row in rows)
        {
            var label = System.Text.Encoding.UTF8.GetBytes(row.Label);
            var image = row.Record is var (dataset, index) ? dataset.Image(index) : row.Image;
            foreach (var part in new[] { label, image.ToArray() })
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(length, part.Length);   // no two splits of bytes alike
                hash.AppendData(length);
                hash.AppendData(part);
            }
        }
        var perClass = rows.GroupBy(r => r.Label).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}");
        return $"{rows.Count} images ({string.Join(", ", perClass)}), content sha256 {Convert.ToHexString(hash.GetHashAndReset())[..16]}";
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

    /// <summary>
    /// The rows as an ML.NET view: files as encoded bytes (VarVector&lt;Byte&gt;), records as images, each with its Label
    /// and Source text.
    /// </summary>
    public static IDataView ToDataView(MLContext ml, IReadOnlyList<ImageRow> rows) =>
        rows.Count > 0 && rows[0].Record is { } first
            ? new RecordView(rows, first.Dataset.Format)
            : ml.Data.LoadFromEnumerable(rows.Select(r => new ImageRow.FileRow(r)),
                SchemaDefinition.Create(typeof(ImageRow.FileRow), SchemaDefinition.Direction.Read));
}
