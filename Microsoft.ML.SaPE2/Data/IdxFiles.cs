using System.Buffers.Binary;
using System.IO.Compression;

namespace Microsoft.ML.SaPE2.Data;

/// <summary>Reads the IDX format of MNIST and Fashion-MNIST (images: magic 2051; labels: magic 2049), gzipped or not.</summary>
internal static class IdxFiles
{
    /// <summary>Fashion-MNIST's class names, in label order.</summary>
    public static readonly IReadOnlyList<string> FashionMnistClasses =
        new[] { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

    /// <summary>Loads an images file and its labels file.</summary>
    /// <param name="imagesPath">IDX3 images (e.g. train-images-idx3-ubyte.gz).</param>
    /// <param name="labelsPath">IDX1 labels of the same count.</param>
    /// <param name="format">Model input; null keeps the file's size as one channel.</param>
    /// <param name="classNames">Names of labels 0 … K−1; null: the digits "0" … "9" (MNIST).</param>
    /// <param name="limit">Read only the first images (0: all).</param>
    public static ImageDataset Load(string imagesPath, string labelsPath, ImageFormat? format = null, IReadOnlyList<string>? classNames = null,
        int limit = 0)
    {
        var images = ReadAll(imagesPath);
        var labels = ReadAll(labelsPath);
        if (images.Length < 16 || BinaryPrimitives.ReadInt32BigEndian(images) != 2051)
            throw new InvalidOperationException($"'{imagesPath}' is not an IDX images file (magic number 2051 expected).");
        if (labels.Length < 8 || BinaryPrimitives.ReadInt32BigEndian(labels) != 2049)
            throw new InvalidOperationException($"'{labelsPath}' is not an IDX labels file (magic number 2049 expected).");
        int count = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(4));
        int rows = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(8));
        int cols = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(12));
        int labelCount = BinaryPrimitives.ReadInt32BigEndian(labels.AsSpan(4));
        if (count != labelCount)
            throw new InvalidOperationException($"'{imagesPath}' holds {count} images but '{labelsPath}' holds {labelCount} labels.");
        if (rows <= 0 || cols <= 0 || images.Length < 16 + (long)count * rows * cols)
            throw new InvalidOperationException($"'{imagesPath}' is truncated: {count} images of {rows}×{cols} need " +
                $"{16 + (long)count * rows * cols} bytes, the file has {images.Length}.");
        if (labels.Length < 8 + count)
            throw new InvalidOperationException($"'{labelsPath}' is truncated: {count} labels need {8 + count} bytes, the file has {labels.Length}.");
        if (limit > 0) count = Math.Min(count, limit);

        var names = classNames ?? Enumerable.Range(0, 10).Select(d => d.ToString()).ToArray();
        var target = format ?? new ImageFormat { Height = rows, Width = cols, Channels = 1 };
        var pixels = new byte[count * target.PixelCount];
        ParallelDecoding.For(count, i =>
        {
            var source = images.AsSpan(16 + i * rows * cols, rows * cols);
            ImageDecoder.FromPlanar(source, 1, rows, cols, target, $"{imagesPath}#{i}").CopyTo(pixels, i * target.PixelCount);
        });
        var labelArray = labels.AsSpan(8, count).ToArray().Select(b => (int)b).ToArray();
        var sources = Enumerable.Range(0, count).Select(i => $"{imagesPath}#{i}").ToArray();
        return new ImageDataset(target, pixels, labelArray, names, sources);
    }

    /// <summary>The file's bytes, gunzipped when it starts with the gzip magic.</summary>
    internal static byte[] ReadAll(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"File '{path}' does not exist.", path);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        try
        {
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gzip.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidOperationException($"'{path}' looks gzipped but cannot be decompressed: {e.Message}", e);
        }
    }
}
