namespace Microsoft.ML.SaPE2.Data;

/// <summary>The stored size and colour of one image, read from its header (no pixels decoded).</summary>
internal readonly record struct ImageShape(int Width, int Height, bool Grayscale);

/// <summary>
/// What a sample of a data set's images looks like before any resizing: the median stored size and whether they
/// are all grayscale. The automatic recipe (<see cref="Training.AutoRecipe"/>) sizes the model from it.
/// </summary>
internal sealed record ImageSurvey(int Images, int MedianWidth, int MedianHeight, bool Grayscale)
{
    /// <summary>How many images of a data set are surveyed (their headers only).</summary>
    public const int SampleSize = 256;

    /// <summary>The longer median side.</summary>
    public int MedianSide => Math.Max(MedianWidth, MedianHeight);

    /// <summary>Summarises <paramref name="shapes"/>; throws when there are none.</summary>
    public static ImageSurvey Of(IReadOnlyCollection<ImageShape> shapes)
    {
        if (shapes.Count == 0) throw new InvalidOperationException("There are no images to survey.");
        static int Median(IEnumerable<int> values) { var sorted = values.Order().ToArray(); return sorted[sorted.Length / 2]; }
        return new ImageSurvey(shapes.Count, Median(shapes.Select(s => s.Width)), Median(shapes.Select(s => s.Height)), shapes.All(s => s.Grayscale));
    }
}
