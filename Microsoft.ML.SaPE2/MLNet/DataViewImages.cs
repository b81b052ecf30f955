using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Data;

namespace Microsoft.ML.SaPE2;

/// <summary>Reads an IDataView's image and key-label columns into an <see cref="ImageDataset"/>, decoding in parallel.</summary>
internal static class DataViewImages
{
    private const int Chunk = 512;

    /// <summary>The headers of the first <see cref="ImageSurvey.SampleSize"/> images of <paramref name="imageColumn"/>.</summary>
    public static ImageSurvey Survey(IDataView data, string imageColumn, string what)
    {
        var image = data.Schema[imageColumn];
        using var cursor = data.GetRowCursor(new[] { image });
        var readImage = ImageColumn.Reader(cursor, image);
        var shapes = new List<ImageShape>();
        while (shapes.Count < ImageSurvey.SampleSize && cursor.MoveNext())
            shapes.Add(readImage().Probe(new ImageRowLocation(shapes.Count, imageColumn, what)));
        if (shapes.Count == 0) throw new InvalidOperationException($"The {what} has no rows.");
        return ImageSurvey.Of(shapes);
    }

    /// <summary>The number of rows, counted without reading any column when the view does not know it.</summary>
    public static long CountRows(IDataView data)
    {
        if (data.GetRowCount() is { } known) return known;
        using var cursor = data.GetRowCursor(Array.Empty<DataViewSchema.Column>());
        long rows = 0;
        while (cursor.MoveNext()) rows++;
        return rows;
    }

    public static ImageDataset Read(IDataView data, string imageColumn, string labelColumn, ImageFormat format,
        IReadOnlyList<string> classNames, string what)
    {
        var image = data.Schema[imageColumn];
        var label = data.Schema[labelColumn];
        if (label.Type is not KeyDataViewType key || key.Count != (ulong)classNames.Count)
            throw new InvalidOperationException($"The label column '{labelColumn}' of the {what} has type {label.Type}, but the training " +
                $"labels have {classNames.Count} keys. Map both with the same MapValueToKey.");
        using var cursor = data.GetRowCursor(new[] { image, label });
        var readImage = ImageColumn.Reader(cursor, image);
        var readLabel = cursor.GetGetter<uint>(label);
        var pixels = new List<byte[]>();
        var labels = new List<int>();
        var raw = new List<RawImage>(Chunk);
        long row = 0;
        uint value = 0;
        void Decode()
        {
            var decoded = new byte[raw.Count][];
            long first = row - raw.Count;
            ParallelDecoding.For(raw.Count, i => decoded[i] = raw[i].ToModelPixels(format, new ImageRowLocation(first + i, imageColumn, what)));
            pixels.AddRange(decoded);
            raw.Clear();
        }
        while (cursor.MoveNext())
        {
            readLabel(ref value);
            if (value == 0 || value > classNames.Count)
                throw new InvalidOperationException($"Row {row} of the {what} has a missing or unknown label in column '{labelColumn}' (key " +
                    $"{value}). Remove the row or add its class to the MapValueToKey mapping.");
            labels.Add((int)value - 1);
            raw.Add(readImage());
            row++;
            if (raw.Count == Chunk) Decode();
        }
        Decode();
        if (labels.Count == 0) throw new InvalidOperationException($"The {what} has no rows.");
        var all = new byte[labels.Count * format.PixelCount];
        for (int i = 0; i < pixels.Count; i++) pixels[i].CopyTo(all, i * format.PixelCount);
        return new ImageDataset(format, all, labels.ToArray(), classNames,
            Enumerable.Range(0, labels.Count).Select(i => $"row {i} ({what})").ToArray());
    }
}
