namespace Microsoft.ML.SaPE2.Data;

/// <summary>Which CIFAR binary layout a file has.</summary>
internal enum CifarVariant
{
    /// <summary>CIFAR-10: records of 1 label byte + 3072 pixel bytes.</summary>
    Cifar10,
    /// <summary>CIFAR-100: records of a coarse and a fine label byte + 3072 pixel bytes; the fine label (100 classes) is used.</summary>
    Cifar100,
}

/// <summary>Reads the CIFAR-10 / CIFAR-100 binary version (data_batch_1.bin …, train.bin, test.bin): 32×32 RGB, channel-first.</summary>
internal static class CifarFiles
{
    /// <summary>CIFAR-10's class names in label order.</summary>
    public static readonly IReadOnlyList<string> Cifar10Classes =
        new[] { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" };

    /// <summary>Loads and concatenates <paramref name="files"/>.</summary>
    /// <param name="files">Binary batch files of one variant.</param>
    /// <param name="variant">CIFAR-10 or CIFAR-100.</param>
    /// <param name="format">Model input; null keeps 32×32 RGB.</param>
    /// <param name="classNames">Class names; null: CIFAR-10's, or "0" … "99" for CIFAR-100 unless a
    /// <c>fine_label_names.txt</c> sits beside the first file.</param>
    public static ImageDataset Load(IReadOnlyList<string> files, CifarVariant variant, ImageFormat? format = null,
        IReadOnlyList<string>? classNames = null)
    {
        if (files.Count == 0) throw new ArgumentException("No CIFAR files given.", nameof(files));
        const int PixelBytes = 3 * 32 * 32;
        int labelBytes = variant == CifarVariant.Cifar10 ? 1 : 2;
        int record = labelBytes + PixelBytes;
        var target = format ?? new ImageFormat { Height = 32, Width = 32, Channels = 3 };
        var names = classNames ?? DefaultClasses(files[0], variant);

        var pixels = new List<byte[]>();
        var labels = new List<int>();
        var sources = new List<string>();
        foreach (var file in files)
        {
            if (!File.Exists(file)) throw new FileNotFoundException($"CIFAR file '{file}' does not exist.", file);
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length == 0 || bytes.Length % record != 0)
                throw new InvalidOperationException($"'{file}' has {bytes.Length} bytes, not a whole number of {variant} records of {record} " +
                    $"bytes. Is it the binary version, and the right variant?");
            int count = bytes.Length / record;
            var decoded = new byte[count][];
            ParallelDecoding.For(count, i =>
                decoded[i] = ImageDecoder.FromPlanar(bytes.AsSpan(i * record + labelBytes, PixelBytes), 3, 32, 32, target, $"{file}#{i}"));
            for (int i = 0; i < count; i++)
            {
                labels.Add(bytes[i * record + labelBytes - 1]);   // CIFAR-100: the fine label is the second byte
                sources.Add($"{file}#{i}");
            }
            pixels.AddRange(decoded);
        }
        return new ImageDataset(target, pixels.SelectMany(p => p).ToArray(), labels.ToArray(), names, sources);
    }

    private static IReadOnlyList<string> DefaultClasses(string firstFile, CifarVariant variant)
    {
        if (variant == CifarVariant.Cifar10) return Cifar10Classes;
        string labelFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(firstFile))!, "fine_label_names.txt");
        if (File.Exists(labelFile))
        {
            var lines = File.ReadAllLines(labelFile).Where(l => l.Length > 0).ToArray();
            if (lines.Length == 100) return lines;
        }
        return Enumerable.Range(0, 100).Select(i => i.ToString()).ToArray();
    }
}
