namespace Microsoft.ML.SaPE2.Data;

/// <summary>
/// Decoded images at model size, kept in memory as bytes (N × C × H × W), with integer labels and class names.
/// Decoding happens once; augmentation and normalisation run per batch.
/// </summary>
internal sealed class ImageDataset
{
    private readonly byte[] pixels;
    private readonly int[] labels;

    /// <summary>Wraps decoded images. <paramref name="sources"/> name each image (file path, or file and record) in errors.</summary>
    public ImageDataset(ImageFormat format, byte[] pixels, int[] labels, IReadOnlyList<string> classNames, IReadOnlyList<string>? sources = null)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (pixels.Length != (long)labels.Length * format.PixelCount)
            throw new ArgumentException($"{pixels.Length} pixel bytes do not hold {labels.Length} images of " +
                $"{format.Channels}×{format.Height}×{format.Width}.", nameof(pixels));
        if (sources is not null && sources.Count != labels.Length)
            throw new ArgumentException($"{sources.Count} sources for {labels.Length} images.", nameof(sources));
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] < 0 || labels[i] >= classNames.Count)
                throw new InvalidOperationException($"Image '{(sources is null ? $"row {i}" : sources[i])}' has label {labels[i]}, outside the " +
                    $"{classNames.Count} known classes (0 … {classNames.Count - 1}).");
        Format = format;
        this.pixels = pixels;
        this.labels = labels;
        ClassNames = classNames;
        Sources = sources ?? Enumerable.Range(0, labels.Length).Select(i => $"row {i}").ToArray();
    }

    /// <summary>Size and channels of every image.</summary>
    public ImageFormat Format { get; }
    /// <summary>Class names; label <c>i</c> is <c>ClassNames[i]</c>.</summary>
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>Where each image came from.</summary>
    public IReadOnlyList<string> Sources { get; }
    /// <summary>Number of images.</summary>
    public int Count => labels.Length;
    /// <summary>The label of every image.</summary>
    public IReadOnlyList<int> Labels => labels;

    /// <summary>The bytes (C × H × W) of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Image(int index) => pixels.AsSpan(index * Format.PixelCount, Format.PixelCount);

    /// <summary>The bytes of the images at <paramref name="indices"/>, one after another (the layout batches are built from).</summary>
    public byte[] Pixels(IReadOnlyList<int> indices)
    {
        var batch = new byte[indices.Count * Format.PixelCount];
        for (int i = 0; i < indices.Count; i++) Image(indices[i]).CopyTo(batch.AsSpan(i * Format.PixelCount));
        return batch;
    }

    /// <summary>How many images each class has.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[ClassNames.Count];
        foreach (int label in labels) counts[label]++;
        return counts;
    }

    /// <summary>
    /// What identifies these images for a resume: the count, the images per class and a SHA-256 of the class names, labels and
    /// decoded pixels. One line, so a difference can be named.
    /// </summary>
    public string Fingerprint()
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", ClassNames)));
        hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(labels.AsSpan()));
        hash.AppendData(pixels);
        var counts = ClassCounts();
        return $"{Count} images ({string.Join(", ", ClassNames.Select((name, i) => $"{name} {counts[i]}"))}), sha256 " +
            Convert.ToHexString(hash.GetHashAndReset())[..16];
    }

    /// <summary>The images at <paramref name="indices"/>, in that order.</summary>
    public ImageDataset Subset(IReadOnlyList<int> indices)
    {
        int size = Format.PixelCount;
        var subset = new byte[indices.Count * size];
        for (int i = 0; i < indices.Count; i++)
            Array.Copy(pixels, indices[i] * size, subset, i * size, size);
        return new ImageDataset(Format, subset, indices.Select(i => labels[i]).ToArray(), ClassNames, indices.Select(i => Sources[i]).ToArray());
    }

    /// <summary>
    /// Splits off a validation part with the same class proportions; the same seed gives the same split.
    /// Every class with at least two images keeps at least one on each side.
    /// </summary>
    public (ImageDataset Train, ImageDataset Validation) SplitStratified(double validationFraction, int seed)
    {
        var (train, validation) = StratifiedSplit.Indices(labels, validationFraction, seed);
        return (Subset(train), Subset(validation));
    }
}
