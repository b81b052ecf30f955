using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>How strongly a trial augments its training images, from nothing to DeiT's full recipe.</summary>
public enum Sape2AugmentationLevel
{
    /// <summary>No augmentation.</summary>
    None,
    /// <summary>The trainer's automatic random crop and horizontal flip.</summary>
    CropFlip,
    /// <summary>Crop and flip, then RandAugment (2 ops) at <see cref="Sape2TrialParameters.RandAugmentMagnitude"/>.</summary>
    RandAugment,
    /// <summary>RandAugment, then Mixup or CutMix on a <see cref="Sape2TrialParameters.MixProbability"/> share of the batches.</summary>
    MixupCutmix,
}

/// <summary>
/// The knobs an experiment tunes, one trial's worth, each with its range as an ML.NET AutoML search-space attribute
/// (<c>[Range]</c>, <c>[Choice]</c>, <c>[BooleanChoice]</c>). The initial values are the trainer's own defaults on a CPU,
/// so trial 0 is the default model. To change a range, derive from this class and override the property with your own
/// attribute, then pass <c>Sape2SearchSpace.Create&lt;YourClass&gt;()</c> to <c>SetSearchSpace</c>. Batch size is set by the
/// device and epochs are the fidelity the scheduler spends, so neither is a knob. Docs/automl.md lists every range.
/// </summary>
public class Sape2TrialParameters
{
    /// <summary>Position encoding, SaPE² first.</summary>
    [Choice(new object[] { PositionEncodingKind.Sape2, PositionEncodingKind.RopeMixed, PositionEncodingKind.RopeAxial, PositionEncodingKind.Cope,
        PositionEncodingKind.Absolute, PositionEncodingKind.Sincos2D, PositionEncodingKind.None }, PositionEncodingKind.Sape2)]
    public virtual PositionEncodingKind PositionEncoding { get; set; } = PositionEncodingKind.Sape2;

    /// <summary>Add the learned absolute embedding to RoPE, CoPE and SaPE² ("+APE").</summary>
    [BooleanChoice(true)]
    public virtual bool AbsolutePosition { get; set; } = true;

    /// <summary>SaPE²'s K or Q mode (Eq. 13).</summary>
    [Choice(new object[] { Sape2Mode.Key, Sape2Mode.Query }, Sape2Mode.Key)]
    public virtual Sape2Mode Sape2Mode { get; set; } = Sape2Mode.Key;

    /// <summary>Peak AdamW learning rate, searched on a log scale.</summary>
    [Range(1e-4, 1e-2, 3e-3, logBase: true)]
    public virtual double LearningRate { get; set; } = 3e-3;

    /// <summary>AdamW weight decay on weight matrices, searched on a log scale.</summary>
    [Range(1e-3, 0.3, 0.05, logBase: true)]
    public virtual double WeightDecay { get; set; } = 0.05;

    /// <summary>Linear warm-up as a fraction of the trial's planned epochs (0.06 of 19 epochs ≈ the trainer's default 1 epoch).</summary>
    [Range(0.0, 0.25, 0.06)]
    public virtual double WarmupFraction { get; set; } = 0.06;

    /// <summary>Label smoothing.</summary>
    [Range(0.0, 0.3, 0.1)]
    public virtual double LabelSmoothing { get; set; } = 0.1;

    /// <summary>Augmentation strength.</summary>
    [Choice(new object[] { Sape2AugmentationLevel.None, Sape2AugmentationLevel.CropFlip, Sape2AugmentationLevel.RandAugment,
        Sape2AugmentationLevel.MixupCutmix }, Sape2AugmentationLevel.CropFlip)]
    public virtual Sape2AugmentationLevel Augmentation { get; set; } = Sape2AugmentationLevel.CropFlip;

    /// <summary>RandAugment magnitude on timm's 0–10 scale (used by the RandAugment and MixupCutmix levels).</summary>
    [Range(1.0, 10.0, 5.0)]
    public virtual double RandAugmentMagnitude { get; set; } = 5.0;

    /// <summary>Share of batches mixed by Mixup or CutMix (used by the MixupCutmix level).</summary>
    [Range(0.1, 1.0, 0.5)]
    public virtual double MixProbability { get; set; } = 0.5;

    /// <summary>Stochastic-depth rate of the last block.</summary>
    [Range(0.0, 0.3, 0.0)]
    public virtual double DropPathRate { get; set; }

    /// <summary>Pixels per token, a cost knob (smaller: more tokens, slower, often better); 0: the trainer's automatic choice.</summary>
    [Choice(new object[] { 0, 2, 4, 8 }, 0)]
    public virtual int PatchSize { get; set; }

    /// <summary>Model size, a cost knob; on a CPU only Micro trains in minutes (the GPU space has Tiny and Small).</summary>
    [Choice(new object[] { VitPreset.Micro }, VitPreset.Micro)]
    public virtual VitPreset Preset { get; set; } = VitPreset.Micro;

    /// <summary>Weight EMA decay; 0: off.</summary>
    [Choice(new object[] { 0.0, 0.99, 0.999 }, 0.0)]
    public virtual double EmaDecay { get; set; }

    /// <summary>On photos (the pretrained backbone): its learning rate as a fraction of the rest's; 0 keeps it frozen with cached features
    /// (the fast path), 0.1 fine-tunes it. Not used on other images.</summary>
    [Choice(new object[] { 0.0, 0.1 }, 0.0)]
    public virtual double BackboneLearningRateScale { get; set; }
}
