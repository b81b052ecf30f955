using Microsoft.ML.SaPE2.Data;

using Microsoft.ML.SaPE2.Modeling;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// How a vision transformer is trained. Defaults are DeiT's recipe for small ViTs from scratch (AdamW, warm-up then
/// cosine decay, weight decay 0.05, label smoothing 0.1, Mixup/CutMix, RandAugment), at a learning rate that suits
/// batch 128.
/// </summary>
internal sealed record TrainingOptions
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 50;
    /// <summary>Images per optimiser step.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>Peak learning rate of AdamW, reached after the warm-up.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Learning rate at the end of the cosine decay.</summary>
    public double MinLearningRate { get; init; } = 1e-5;
    /// <summary>Epochs of linear warm-up (fractions allowed); at most half the run is warm-up.</summary>
    public double WarmupEpochs { get; init; } = 5;
    /// <summary>AdamW weight decay, applied to weight matrices only (not norms, biases, the CLS token or position tables).</summary>
    public double WeightDecay { get; init; } = 0.05;
    /// <summary>Largest gradient norm before clipping (0: no clipping).</summary>
    public double GradientClipNorm { get; init; } = 1.0;
    /// <summary>Decay of an exponential moving average of the weights, e.g. 0.999; 0: off. When on, the average is evaluated and returned.</summary>
    public double EmaDecay { get; init; }
    /// <summary>Label smoothing, within [0, 1).</summary>
    public double LabelSmoothing { get; init; } = 0.1;
    /// <summary>Training-time augmentation.</summary>
    public AugmentationOptions Augmentation { get; init; } = new();
    /// <summary>Pixel normalisation; null: mean 0.5 and std 0.5 per channel (<see cref="Normalization.Default"/>).</summary>
    public Normalization? Normalization { get; init; }
    /// <summary>
    /// Wall-clock budget of the run (null: none). The schedule is shrunk after each epoch to the epochs that still
    /// fit, and a step that starts after the limit is not taken; the best weights so far are returned.
    /// </summary>
    public TimeSpan? TimeLimit { get; init; }
    /// <summary>Stop after this many epochs without a better validation accuracy (0: never stop early).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>"auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".</summary>
    public string Device { get; init; } = "auto";
    /// <summary>The number format of the training steps (validation and scoring run in fp32).</summary>
    public TrainingPrecision Precision { get; init; } = TrainingPrecision.Float32;
    /// <summary>CPU threads for libtorch; 0: one per core (the fastest setting measured, see Docs/benchmarks.md).</summary>
    public int Threads { get; init; }
    /// <summary>Background threads building batches; 0: one per core.</summary>
    public int LoaderWorkers { get; init; }
    /// <summary>Seed of initialisation, shuffling, augmentation and dropout; on the CPU the same seed repeats training bit for bit.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Folder for <c>last.ckpt</c> (every epoch) and <c>best.ckpt</c>; null: no checkpoint files.</summary>
    public string? CheckpointDirectory { get; init; }
    /// <summary>
    /// A <c>last.ckpt</c> to continue from; its configuration and classes must match. With the same data, options and
    /// seed on a CPU the resumed run ends with the weights of an uninterrupted one.
    /// </summary>
    public string? ResumeFrom { get; init; }
    /// <summary>
    /// A trained classifier of the same architecture to start from (<see cref="InitialWeights"/>): retraining on new data. Ignored on
    /// a resume, which has its own weights. The caller owns it.
    /// </summary>
    public ImageClassifier? InitialModel { get; init; }
    /// <summary>
    /// Called on the freshly built model before training (not on a resume): grafts pretrained weights onto it. Null: none.
    /// </summary>
    public Action<VisionTransformer>? Initialize { get; init; }
    /// <summary>
    /// The pretrained values of a hybrid model's backbone (<see cref="Modeling.VisionTransformer.Backbone"/>), by ONNX initializer
    /// name; required for such a model unless the run resumes from a checkpoint. The caller owns the tensors.
    /// </summary>
    public IReadOnlyDictionary<string, TorchSharp.torch.Tensor>? BackboneWeights { get; init; }
    /// <summary>
    /// The pretrained backbone's learning rate as a fraction of <see cref="LearningRate"/>; 0 (the default) freezes it, and then
    /// each image's features are computed once and reused every epoch.
    /// </summary>
    public double BackboneLearningRateScale { get; init; }
    /// <summary>Layer-wise learning-rate decay (BEiT, timm's <c>layer_decay</c>) for fine-tuning pretrained ViT weights, within (0, 1]:
    /// block i of d trains at <c>decay^(d − i)</c> of the rate; null: none.</summary>
    public double? LayerDecay { get; init; }
    /// <summary>With a frozen backbone: the versions of each training image whose features are kept — the image and
    /// <c>FeatureViews − 1</c> augmented copies.</summary>
    public int FeatureViews { get; init; } = 4;
    /// <summary>Report progress every this many steps (and at the end of every epoch).</summary>
    public int ProgressInterval { get; init; } = 10;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        OptionChecks.Finite((LearningRate, nameof(LearningRate)), (MinLearningRate, nameof(MinLearningRate)), (WarmupEpochs, nameof(WarmupEpochs)),
            (WeightDecay, nameof(WeightDecay)), (GradientClipNorm, nameof(GradientClipNorm)), (EmaDecay, nameof(EmaDecay)),
                (LabelSmoothing, nameof(LabelSmoothing)), (BackboneLearningRateScale, nameof(BackboneLearningRateScale)));
        if (Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(Epochs), $"Must be positive; got {Epochs}.");
        if (BatchSize < 2) throw new ArgumentOutOfRangeException(nameof(BatchSize), $"Must be at least 2; got {BatchSize}.");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), $"Must be positive; got {LearningRate}.");
        if (MinLearningRate < 0 || MinLearningRate > LearningRate) throw new ArgumentOutOfRangeException(nameof(MinLearningRate),
            $"Should be within [0, LearningRate = {LearningRate}]; got {MinLearningRate}.");
        if (WarmupEpochs < 0) throw new ArgumentOutOfRangeException(nameof(WarmupEpochs), $"Must be 0 or more; got {WarmupEpochs}.");
        if (WeightDecay < 0) throw new ArgumentOutOfRangeException(nameof(WeightDecay), $"Must be 0 or more; got {WeightDecay}.");
        if (GradientClipNorm < 0) throw new ArgumentOutOfRangeException(nameof(GradientClipNorm),
            $"Must be 0 (off) or positive; got {GradientClipNorm}.");
        if (EmaDecay is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(EmaDecay), $"Should be within [0, 1); got {EmaDecay}.");
        if (LabelSmoothing is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(LabelSmoothing),
            $"Should be within [0, 1); got {LabelSmoothing}.");
        if (EarlyStoppingPatience < 0) throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience),
            $"Must be 0 (off) or positive; got {EarlyStoppingPatience}.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), $"Must be 0 (one per core) or positive; got {Threads}.");
        if (LoaderWorkers < 0) throw new ArgumentOutOfRangeException(nameof(LoaderWorkers),
            $"Must be 0 (one per core) or positive; got {LoaderWorkers}.");
        if (TimeLimit is { } limit && !(limit > TimeSpan.Zero)) throw new ArgumentOutOfRangeException(nameof(TimeLimit),
            $"Must be positive, or null for none; got {limit}.");
        if (BackboneLearningRateScale is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(BackboneLearningRateScale),
            $"Should be within [0, 1] (0 freezes the backbone); got {BackboneLearningRateScale}.");
        if (LayerDecay is { } layerDecay && !(layerDecay > 0 && layerDecay <= 1)) throw new ArgumentOutOfRangeException(nameof(LayerDecay),
            $"Should be within (0, 1], or null for none; got {layerDecay}.");
        if (FeatureViews is < 1 or > 64)
            throw new ArgumentOutOfRangeException(nameof(FeatureViews), $"Should be within [1, 64]; got {FeatureViews}.");
        if (ProgressInterval <= 0) throw new ArgumentOutOfRangeException(nameof(ProgressInterval), $"Must be positive; got {ProgressInterval}.");
        if (!Enum.IsDefined(Precision)) throw new ArgumentOutOfRangeException(nameof(Precision),
            $"Must be {string.Join(" or ", Enum.GetNames<TrainingPrecision>())}; got {(int)Precision}.");
        Augmentation.Validate();
        TrainingDevice.Parse(Device);
    }
}
