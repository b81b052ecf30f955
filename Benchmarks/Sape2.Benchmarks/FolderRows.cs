namespace Sape2.Benchmarks;

/// <summary>One row per image file of a folder with one sub-folder per class, as the ML.NET benchmarks load them.</summary>
internal sealed class FolderRow
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";

    /// <summary>The images of <paramref name="folder"/>, in a fixed order, labelled by their sub-folder.</summary>
    public static List<FolderRow> Read(string folder) =>
        Directory.GetDirectories(folder).OrderBy(d => d, StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).OrderBy(f => f, StringComparer.Ordinal)
                .Select(f => new FolderRow { ImagePath = f, Label = Path.GetFileName(d) }))
            .ToList();
}
