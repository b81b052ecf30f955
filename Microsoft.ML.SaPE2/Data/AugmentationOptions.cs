namespace Microsoft.ML.SaPE2;

/// <summary>
/// Training-only augmentation, each part switchable. Defaults follow DeiT's recipe for small ViTs trained from scratch,
/// scaled to small images: random crop with 4-pixel padding, horizontal flip, RandAugment (2 ops, magnitude 9),
/// Mixup (α 0.8) or CutMix (α 1.0) on every batch. Evaluation and prediction never augment.
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>Pad by this many pixels and crop back at a random offset (0: off).</summary>
    public int RandomCropPadding { get; init; } = 4;
    /// <summary>Random resized crop: a random area (from <see cref="ResizedCropMinScale"/> to all of the image) and aspect (3/4 to 4/3),
    /// resized back.</summary>
    public bool RandomResizedCrop { get; init; }
    /// <summary>Smallest area fraction the random resized crop keeps, within (0, 1].</summary>
    public double ResizedCropMinScale { get; init; } = 0.35;
    /// <summary>Mirror half of the images left-right.</summary>
    public bool HorizontalFlip { get; init; } = true;
    /// <summary>RandAugment: number of random ops per image (0: off).</summary>
    public int RandAugmentOps { get; init; } = 2;
    /// <summary>RandAugment magnitude on timm's 0–10 scale.</summary>
    public double RandAugmentMagnitude { get; init; } = 9;
    /// <summary>Mixup's Beta(α, α) parameter (0: off).</summary>
    public double MixupAlpha { get; init; } = 0.8;
    /// <summary>CutMix's Beta(α, α) parameter (0: off). With both on, each batch uses one of them at random.</summary>
    public double CutmixAlpha { get; init; } = 1.0;
    /// <summary>Probability that a batch is mixed at all, within [0, 1].</summary>
    public double MixProbability { get; init; } = 1.0;

    /// <summary>No augmentation at all.</summary>
    public static AugmentationOptions None { get; } = new()
    {
        RandomCropPadding = 0, HorizontalFlip = false, RandAugmentOps = 0, MixupAlpha = 0, CutmixAlpha = 0,
    };

    /// <summary>Whether a mixed-target loss is needed.</summary>
    public bool Mixes => MixProbability > 0 && (MixupAlpha > 0 || CutmixAlpha > 0);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        OptionChecks.Finite((ResizedCropMinScale, nameof(ResizedCropMinScale)), (RandAugmentMagnitude, nameof(RandAugmentMagnitude)),
            (MixupAlpha, nameof(MixupAlpha)), (CutmixAlpha, nameof(CutmixAlpha)), (MixProbability, nameof(MixProbability)));
        if (RandomCropPadding < 0) throw new ArgumentOutOfRangeException(nameof(RandomCropPadding), $"Must be 0 or more; got {RandomCropPadding}.");
        if (ResizedCropMinScale is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(ResizedCropMinScale),
            $"Should be within (0, 1]; got {ResizedCropMinScale}.");
        if (RandAugmentOps < 0) throw new ArgumentOutOfRangeException(nameof(RandAugmentOps), $"Must be 0 or more; got {RandAugmentOps}.");
        if (RandAugmentMagnitude is < 0 or > 10) throw new ArgumentOutOfRangeException(nameof(RandAugmentMagnitude),
            $"Should be within [0, 10]; got {RandAugmentMagnitude}.");
        if (MixupAlpha < 0) throw new ArgumentOutOfRangeException(nameof(MixupAlpha), $"Must be 0 (off) or positive; got {MixupAlpha}.");
        if (CutmixAlpha < 0) throw new ArgumentOutOfRangeException(nameof(CutmixAlpha), $"Must be 0 (off) or positive; got {CutmixAlpha}.");
        if (MixProbability is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(MixProbability),
            $"Should be within [0, 1]; got {MixProbability}.");
    }
}
