using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.SaPE2;

/// <summary>How the image column holds its images.</summary>
internal enum ImageColumnKind
{
    /// <summary>Encoded file bytes, VarVector&lt;Byte&gt; (from <c>LoadRawImageBytes</c>).</summary>
    EncodedBytes,
    /// <summary>Decoded <see cref="MLImage"/> (from <c>LoadImages</c>).</summary>
    Image,
    /// <summary>Pixel values 0–255, channel-major, Vector&lt;Single, C·H·W&gt; (from <c>ExtractPixels</c> with its defaults, or a file of
    /// pixels): the layout an exported ONNX model takes, so a pipeline on it converts with ML.NET's <c>ConvertToOnnx</c>.</summary>
    Pixels,
}

/// <summary>Where a row's image sits, for messages: row <paramref name="Row"/> of <paramref name="Column"/> in <paramref name="DataName"/>
/// (<see cref="InvalidImageException.DataName"/>).</summary>
internal readonly record struct ImageRowLocation(long Row, string Column, string? DataName = null)
{
    public override string ToString() => $"row {Row} of column '{Column}'" + (DataName is null ? "" : $" ({DataName})");
}

/// <summary>One image read from a row, not yet converted to the model's format.</summary>
/// <remarks>A pixel vector keeps its values in <paramref name="Values"/> (checked when converted, where the row is known).</remarks>
internal readonly record struct RawImage(byte[] Data, int Width, int Height, ImageColumnKind Kind, float[]? Values = null)
{
    /// <summary>Decodes (bytes) or converts (RGBA pixels) to <paramref name="format"/>; a failure names <paramref name="where"/>.</summary>
    public byte[] ToModelPixels(ImageFormat format, ImageRowLocation where)
    {
        if (Kind == ImageColumnKind.Pixels) return PixelVector.ToModelPixels(Values!, format, where);
        try
        {
            return Kind == ImageColumnKind.EncodedBytes
                ? ImageDecoder.Decode(Data, format, where.ToString())
                : ImageDecoder.FromRgba(Data, Width, Height, format, where.ToString());
        }
        catch (InvalidImageException e)
        {
            throw e.At(where.Row, where.Column, where.DataName);
        }
    }

    /// <summary>The stored size and colour, without decoding the pixels of an encoded image.</summary>
    public ImageShape Probe(ImageRowLocation where)
    {
        if (Kind == ImageColumnKind.Pixels) return PixelVector.Probe(Values!.Length, where);
        if (Kind != ImageColumnKind.EncodedBytes) return ImageDecoder.Probe(Data, Width, Height);
        try
        {
            return ImageDecoder.Probe(Data, where.ToString());
        }
        catch (InvalidImageException e)
        {
            throw e.At(where.Row, where.Column, where.DataName);
        }
    }
}

/// <summary>Schema checks and readers for the trainer's image column (bytes or <see cref="MLImage"/>).</summary>
internal static class ImageColumn
{
    private const string Expected = "VarVector<Byte> (from LoadRawImageBytes), Image (from LoadImages) or Vector<Single, C·H·W> of 0–255 " +
        "pixels (from ExtractPixels)";

    /// <summary>The column's kind, or an exception naming the column, the type found and the types expected.</summary>
    public static ImageColumnKind KindOf(DataViewSchema schema, string name)
    {
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException(nameof(name), $"Could not find image column '{name}'.");
        if (column.Type is VectorDataViewType { ItemType: var item, IsKnownSize: false }
            && item == NumberDataViewType.Byte) return ImageColumnKind.EncodedBytes;
        if (column.Type is ImageDataViewType) return ImageColumnKind.Image;
        if (column.Type is VectorDataViewType { ItemType: var single, IsKnownSize: true } && single == NumberDataViewType.Single)
            return ImageColumnKind.Pixels;
        throw new ArgumentOutOfRangeException(nameof(name), $"Schema mismatch for image column '{name}': expected {Expected}, got {column.Type}.");
    }

    /// <summary>The same check on an estimator's input shape.</summary>
    public static void Check(SchemaShape schema, string name)
    {
        if (MLNetInternals.FindColumn(schema, name) is not { } column)
            throw new ArgumentOutOfRangeException(nameof(name), $"Could not find image column '{name}'.");
        bool bytes = column.Kind == SchemaShape.Column.VectorKind.VariableVector && column.ItemType == NumberDataViewType.Byte;
        bool image = column.Kind == SchemaShape.Column.VectorKind.Scalar && column.ItemType is ImageDataViewType;
        bool pixels = column.Kind == SchemaShape.Column.VectorKind.Vector && column.ItemType == NumberDataViewType.Single;
        if (!bytes && !image && !pixels)
            throw new ArgumentOutOfRangeException(nameof(name),
                $"Schema mismatch for image column '{name}': expected {Expected}, got {Describe(column)}.");
    }

    /// <summary>A reader of the current row's image.</summary>
    public static Func<RawImage> Reader(DataViewRow row, DataViewSchema.Column column)
    {
        var kind = KindOf(row.Schema, column.Name);
        if (kind == ImageColumnKind.Pixels)
        {
            var pixelGetter = row.GetGetter<VBuffer<float>>(column);
            VBuffer<float> values = default;
            return () =>
            {
                pixelGetter(ref values);
                return new RawImage(Array.Empty<byte>(), 0, 0, ImageColumnKind.Pixels, values.DenseValues().ToArray());
            };
        }
        if (kind == ImageColumnKind.EncodedBytes)
        {
            var getter = row.GetGetter<VBuffer<byte>>(column);
            VBuffer<byte> buffer = default;
            return () =>
            {
                getter(ref buffer);
                return new RawImage(buffer.DenseValues().ToArray(), 0, 0, ImageColumnKind.EncodedBytes);
            };
        }
        var imageGetter = row.GetGetter<MLImage>(column);
        MLImage image = null!;
        return () =>
        {
            imageGetter(ref image);
            if (image is null) return new RawImage(Array.Empty<byte>(), 0, 0, ImageColumnKind.EncodedBytes);   // decodes to a clear "empty" error
            return new RawImage(ToRgba(image), image.Width, image.Height, ImageColumnKind.Image);
        };
    }

    private static byte[] ToRgba(MLImage image)
    {
        var pixels = image.Pixels.ToArray();
        if (image.PixelFormat == MLPixelFormat.Bgra32)
            for (int i = 0; i < pixels.Length; i += 4) (pixels[i], pixels[i + 2]) = (pixels[i + 2], pixels[i]);
        return pixels;
    }

    private static string Describe(SchemaShape.Column column) => column.Kind switch
    {
        SchemaShape.Column.VectorKind.Scalar => $"{column.ItemType}",
        SchemaShape.Column.VectorKind.Vector => $"Vector<{column.ItemType}>",
        _ => $"VarVector<{column.ItemType}>",
    };
}
