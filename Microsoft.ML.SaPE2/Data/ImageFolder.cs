namespace Microsoft.ML.SaPE2.Data;

/// <summary>
/// Reads a Model Builder-style image folder: one sub-folder per class, named after the class, holding its images.
/// Files whose extension is not an image's (.png .jpg .jpeg .bmp .gif .webp) are skipped and listed; an image file
/// that cannot be decoded is an error naming the file. Public for <see cref="ImageExtensions"/>, the filter a
/// program listing its own image files can share.
/// </summary>
public static class ImageFolder
{
    /// <summary>The extensions read as images (case-insensitive).</summary>
    public static readonly IReadOnlySet<string> ImageExtensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    /// <summary>The decoded images and the files that were not images.</summary>
    internal sealed record LoadResult(ImageDataset Dataset, IReadOnlyList<string> SkippedFiles);

    /// <summary>The image files of a tree (ordinal order within each class), each one's class, the class names and the files skipped.</summary>
    internal sealed record Listing(IReadOnlyList<string> Files, int[] Labels, IReadOnlyList<string> ClassNames, IReadOnlyList<string> SkippedFiles);

    /// <summary>Decodes every image under <paramref name="root"/>; classes are the sub-folders in ordinal order.</summary>
    /// <param name="root">The folder holding one sub-folder per class.</param>
    /// <param name="format">Model input size and channels.</param>
    /// <param name="classNames">Fixes the class order (e.g. the training classes when loading a test folder); null: the sub-folders.</param>
    internal static LoadResult Load(string root, ImageFormat format, IReadOnlyList<string>? classNames = null)
    {
        var listing = List(root, classNames);
        var files = listing.Files;
        var pixels = new byte[files.Count * format.PixelCount];
        ParallelDecoding.For(files.Count, i =>
            ImageDecoder.Decode(File.ReadAllBytes(files[i]), format, files[i]).CopyTo(pixels, i * format.PixelCount));
        return new LoadResult(new ImageDataset(format, pixels, listing.Labels, listing.ClassNames, files), listing.SkippedFiles);
    }

    /// <summary>Lists the images under <paramref name="root"/> by the folder rules, reading none of them.</summary>
    internal static Listing List(string root, IReadOnlyList<string>? classNames = null)
    {
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"Image folder '{root}' does not exist.");
        var folders = Directory.GetDirectories(root).OrderBy(Path.GetFileName, StringComparer.Ordinal).ToArray();
        if (folders.Length == 0)
            throw new InvalidOperationException($"Image folder '{root}' has no class sub-folders. Put each class's images in a sub-folder named " +
                $"after the class.");
        var classes = classNames ?? folders.Select(f => Path.GetFileName(f)!).ToArray();

        var files = new List<string>();
        var labels = new List<int>();
        var skipped = new List<string>();
        foreach (var folder in folders)
        {
            string name = Path.GetFileName(folder)!;
            int label = IndexOf(classes, name);
            if (label < 0)
                throw new InvalidOperationException($"Class folder '{folder}' is not one of the {classes.Count} known classes " +
                    $"({string.Join(", ", classes)}).");
            var all = Directory.GetFiles(folder).OrderBy(f => f, StringComparer.Ordinal).ToArray();
            var images = all.Where(f => ImageExtensions.Contains(Path.GetExtension(f))).ToArray();
            skipped.AddRange(all.Except(images));
            if (images.Length == 0)
                throw new InvalidOperationException($"Class folder '{folder}' holds no images (.png, .jpg, .jpeg, .bmp, .gif, .webp). Add images " +
                    $"or remove the folder.");
            files.AddRange(images);
            labels.AddRange(images.Select(_ => label));
        }
        return new Listing(files, labels.ToArray(), classes, skipped);
    }

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
            if (names[i] == name) return i;
        return -1;
    }
}
