namespace Microsoft.ML.SaPE2;

/// <summary>
/// Per-channel normalisation <c>(x − mean) / std</c> of pixels scaled to [0, 1]. The default maps [0, 1] to [−1, 1]
/// (mean 0.5, std 0.5), which suits data whose statistics are unknown.
/// </summary>
public sealed record Normalization(float[] Mean, float[] Std)
{
    /// <summary>One mean per channel, each finite.</summary>
    public float[] Mean { get; init; } = Mean is { Length: > 0 } m && m.All(float.IsFinite) ? m
        : throw new ArgumentOutOfRangeException(nameof(Mean), $"Needs one finite mean per channel; got [{string.Join(", ", Mean ?? [])}].");
    /// <summary>One standard deviation per channel, each positive and finite.</summary>
    public float[] Std { get; init; } = Std is { Length: > 0 } s && s.All(v => v > 0 && float.IsFinite(v)) ? s
        : throw new ArgumentOutOfRangeException(nameof(Std), $"Every std must be positive; got [{string.Join(", ", Std ?? [])}].");

    /// <summary>Mean and std 0.5 for every channel.</summary>
    public static Normalization Default(int channels) =>
        new(Enumerable.Repeat(0.5f, channels).ToArray(), Enumerable.Repeat(0.5f, channels).ToArray());

    /// <summary>Pixel values in [0, 255] (mean 0, std 1/255): what the ImageNet networks of ML.NET's DnnImageFeaturizer packages take.</summary>
    public static Normalization PixelValues(int channels) =>
        new(new float[channels], Enumerable.Repeat(1f / 255f, channels).ToArray());

    /// <summary>
    /// Throws unless there is one mean and one std per channel (their values are checked when the record is made). Called
    /// where a normalisation meets a channel count: the ML.NET trainer (at construction when Channels is set, and at Fit
    /// before any image is decoded), the engine's Fit, and <c>ImageClassifier</c> (a model read from a file).
    /// </summary>
    public void Validate(int channels)
    {
        if (Mean.Length != channels || Std.Length != channels)
            throw new ArgumentException($"Normalization needs {channels} mean and std values; got {Mean.Length} and {Std.Length}.");
    }
}
