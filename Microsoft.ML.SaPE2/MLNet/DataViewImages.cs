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
            shapes.Add(readImage().Probe(new ImageRowLocation(SourceRow(data, shapes.Count), imageColumn, what)));
        if (shapes.Count == 0) throw new InvalidOperationException($"The {what} has no rows.");
        return ImageSurvey.Of(shapes);
    }

    /// <summary>The row of the user's data that row <paramref name="position"/> of <paramref name="data"/> is (a split's rows are the
    /// dataset's).</summary>
    private static long SourceRow(IDataView data, long position) => data is ISourceRowNumbers split ? split.SourceRow(position) : position;

    /// <summary>The number of rows, counted without reading any column when the view does not know it.</summary>
    public static long CountRows(IDataView data)
    {
        if (data.GetRowCount() is { } known) return known;
        using var cursor = data.GetRowCursor(Array.Empty<DataViewSchema.Column>());
        long rows = 0;
        while (cursor.MoveNext()) rows++;
        return rows;
    }

    /// <summary>
    /// What identifies the rows of <paramref name="data"/> for a resume: the row count, the rows per label key, and a SHA-256 of every
    /// row's label key and image (encoded bytes, decoded pixels or pixel values) in order. Another image, another label (two class
    /// folders swapped) or another order changes it; where the files live does not.
    /// </summary>
    public static string Fingerprint(IDataView data, string imageColumn, string labelColumn)
    {
        var image = data.Schema[imageColumn];
        var label = data.Schema[labelColumn];
        using var cursor = data.GetRowCursor(new[] { image, label });
        var readImage = ImageColumn.Reader(cursor, image);
        var readLabel = cursor.GetGetter<uint>(label);
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var perKey = new SortedDictionary<uint, long>();
        Span<byte> header = stackalloc byte[16];
        long rows = 0;
        uint key = 0;
        while (cursor.MoveNext())
        {
            readLabel(ref key);
            var raw = readImage();
            perKey[key] = perKey.GetValueOrDefault(key) + 1;
            var values = raw.Values is null ? ReadOnlySpan<byte>.Empty : System.Runtime.InteropServices.MemoryMarshal.AsBytes(raw.Values.AsSpan());
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header, key);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header[4..], raw.Width);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header[8..], raw.Data.Length);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header[12..], values.Length);
            hash.AppendData(header);
            hash.AppendData(raw.Data);
            hash.AppendData(values);
            rows++;
        }
        return $"{rows} rows (per label key: {string.Join(", ", perKey.Select(p => $"{p.Key}: {p.Value}"))}), content sha256 " +
            Convert.ToHexString(hash.GetHashAndReset())[..16];
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
            ParallelDecoding.For(raw.Count, i => decoded[i] = raw[i].ToModelPixels(format,
                new ImageRowLocation(SourceRow(data, first + i), imageColumn, what)));
            pixels.AddRange(decoded);
            raw.Clear();
        }
        while (cursor.MoveNext())
        {
            readLabel(ref value);
            if (value == 0 || value > classNames.Count)
                throw new InvalidOperationException($"Row {SourceRow(data, row)} of the {what} has a missing or unknown label in column " +
                    $"'{labelColumn}' (key " +
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
