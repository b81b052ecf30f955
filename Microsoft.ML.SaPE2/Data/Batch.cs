using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Data;

/// <summary>
/// One batch on the CPU, owned by whoever receives it (dispose it after the step): normalised images (B, C, H, W),
/// integer labels (B) and, in training, soft targets (B, classes) after label smoothing and Mixup/CutMix.
/// </summary>
internal sealed class Batch : IDisposable
{
    internal Batch(Tensor images, Tensor labels, Tensor? targets)
    {
        Images = images;
        Labels = labels;
        Targets = targets;
    }

    /// <summary>Normalised images, (B, C, H, W) float32.</summary>
    public Tensor Images { get; }
    /// <summary>Class indices, (B) int64.</summary>
    public Tensor Labels { get; }
    /// <summary>Soft targets for the loss, (B, classes) float32; null when not training.</summary>
    public Tensor? Targets { get; }
    /// <summary>Number of images.</summary>
    public int Count => (int)Images.shape[0];

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
        Targets?.Dispose();
    }
}
