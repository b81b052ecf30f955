using System.CommandLine;
using Microsoft.ML.SaPE2;

namespace Sape2.Cli;

/// <summary>The trainer's settings as flags, shared by `train` and `compare`; their defaults are the trainer's own.</summary>
internal sealed class TrainerFlags
{
    private static readonly Sape2ImageClassificationTrainer.Options defaults = new();   // one source of truth: the flags show them

    public Option<VitPreset?> Preset { get; } = new("--preset") { Description = "Model size: Micro, Tiny or Small (default: automatic)." };
    public Option<TokenizerKind?> Tokenizer { get; } = new("--tokenizer") { Description = "Patch (the paper's linear patches), Convolutional, " +
        "or PretrainedBackbone (ImageNet ResNet18 features; default: automatic, the backbone for colour photos)." };
    public Option<double?> BackboneLr { get; } = new("--backbone-lr") { Description = "With the pretrained backbone: its learning rate as a " +
        "fraction of the rest's, 0 to 1 (default: 0, frozen, features computed once)." };
    public Option<string?> Pretrained { get; } = new("--pretrained") { Description = "A timm vit_*/deit_* safetensors file or https URL " +
        "to fine-tune (downloaded once to a cache); the model takes its architecture." };
    public Option<string?> PretrainedSha256 { get; } = new("--pretrained-sha256") { Description = "Expected SHA-256 of the --pretrained file." };
    public Option<double?> LayerDecay { get; } = new("--layer-decay") { Description = "Layer-wise learning-rate decay for fine-tuning, e.g. " +
        "0.75 (default: none)." };
    public Option<string?> From { get; } = new("--from") { Description = "Start from this model.zip (its architecture and weights) and train " +
        "on the new data; its classes may differ from the new data's." };
    public Option<PoolingKind?> Pooling { get; } = new("--pooling") { Description = "ClassToken (the paper), GlobalAverage or SequencePooling " +
        "(default: automatic)." };
    public Option<WeightInitialization?> Init { get; } = new("--init") { Description = "TruncatedNormal (the paper) or PyTorchDefault (default: " +
        "automatic)." };
    public Option<double?> Time { get; } = new("--time") { Description = "Training time budget in seconds; the best model so far is kept " +
        "when it ends." };
    public Option<PositionEncodingKind> Encoding { get; } = new("--encoding") { Description = "Position encoding: None, Absolute, Sincos2D, " +
        "RopeAxial, RopeMixed, Cope, Sape2.", DefaultValueFactory = _ => defaults.PositionEncoding };
    public Option<bool> NoApe { get; } = new("--no-ape") { Description = "Do not add the learned absolute embedding to RoPE, CoPE or SaPE²." };
    public Option<Sape2Mode> Mode { get; } = new("--mode") { Description = "SaPE² mode: Key or Query.",
        DefaultValueFactory = _ => defaults.Sape2Mode };
    public Option<double> BiasSign { get; } = new("--bias-sign") { Description = "Sign σ of the SaPE² bias: 1 (the paper) or -1.",
        DefaultValueFactory = _ => defaults.Sape2BiasSign };
    public Option<int?> ImageSize { get; } = new("--image-size") { Description = "Input side in pixels (default: the images' median side, " +
        "at most 32 on a CPU)." };
    public Option<int?> Patch { get; } = new("--patch") { Description = "Pixels per token: patch side, or the convolutional tokenizer's stride " +
        "(default: automatic)." };
    public Option<int?> Channels { get; } = new("--channels") { Description = "1 (grayscale) or 3 (RGB) (default: 1 when the images are " +
        "grayscale)." };
    public Option<int?> Epochs { get; } = new("--epochs") { Description = "Passes over the training data (default: automatic, from the " +
        "number of images)." };
    public Option<int?> Batch { get; } = new("--batch") { Description = "Images per step (default: automatic)." };
    public Option<double?> Lr { get; } = new("--lr") { Description = "Peak learning rate (default: automatic)." };
    public Option<string?> Augment { get; } = new("--augment") { Description = "light (crop and flip), full (DeiT recipe: RandAugment, " +
        "Mixup/CutMix) or none (default: automatic)." };
    public Option<string> Device { get; } = new("--device") { Description = "auto, cpu, cuda or cuda:N.",
        DefaultValueFactory = _ => defaults.Device };
    public Option<TrainingPrecision> Precision { get; } = new("--precision") { Description = "Float32, or BFloat16: bf16 mixed precision " +
        "with fp32 master weights (for large images on a GPU).", DefaultValueFactory = _ => defaults.Precision };
    public Option<int> Seed { get; } = new("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };
    public Option<int> Threads { get; } = new("--threads") { Description = "CPU threads (0: one per core).",
        DefaultValueFactory = _ => defaults.Threads };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "AdamW weight decay on weight matrices.",
        DefaultValueFactory = _ => defaults.WeightDecay };
    public Option<double?> Warmup { get; } = new("--warmup") { Description = "Epochs of linear warm-up (default: automatic)." };
    public Option<double?> Smoothing { get; } = new("--label-smoothing") { Description = "Label smoothing (default: automatic)." };
    public Option<double> Ema { get; } = new("--ema") { Description = "Weight EMA decay, e.g. 0.999 (0: off).", DefaultValueFactory = _
        => defaults.EmaDecay };
    public Option<double> Clip { get; } = new("--clip") { Description = "Gradient clipping norm (0: off).", DefaultValueFactory = _
        => defaults.GradientClipNorm };
    public Option<int> Patience { get; } = new("--patience") { Description = "Early-stopping patience in epochs (0: off).", DefaultValueFactory = _
        => defaults.EarlyStoppingPatience };
    public Option<bool> KeepAspect { get; } = new("--keep-aspect") { Description = "Centre-crop images to the model's aspect before resizing " +
        "(automatic for photos on a pretrained network)." };
    public Option<bool> Stretch { get; } = new("--stretch") { Description = "Stretch images to the model's aspect, even photos on a pretrained " +
        "network." };
    public Option<string?> Recipe { get; } = new("--recipe") { Description = "paper (the paper's CIFAR setting: ViT-S/4 at 32×32, CLS " +
        "token, Adam without weight decay, crop and flip, 400 epochs of batch 128) or deit (the same with DeiT's AdamW 0.05, RandAugment, " +
        "Mixup/CutMix, label smoothing 0.1). Flags given as well win." };

    private Option[] All =>
    [
        Preset, Tokenizer, Pooling, Init, Time, Encoding, NoApe, Mode, BiasSign, ImageSize, Patch, Channels, Epochs, Batch, Lr, Augment, Device,
        Precision, Seed, Threads, WeightDecay, Warmup, Smoothing, Ema, Clip, Patience, KeepAspect, Stretch, Recipe, BackboneLr, From, Pretrained,
        PretrainedSha256, LayerDecay,
    ];

    public void AddTo(Command command)
    {
        foreach (var option in All) command.Options.Add(option);
        Augment.AcceptOnlyFromAmong("light", "full", "none");
        BiasSign.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<double>() is not (1.0 or -1.0)) result.AddError("--bias-sign must be 1 or -1.");
        });
        Recipe.AcceptOnlyFromAmong(Recipes.Names);
    }

    /// <summary>The trainer's options from the flags (a named recipe fills the ones not given), refusing images over <paramref
    /// name="maxPixels"/>.</summary>
    public Sape2ImageClassificationTrainer.Options Options(ParseResult parse, long maxPixels)
    {
        var options = new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = "Label", FeatureColumnName = "Image", Preset = parse.GetValue(Preset), Tokenizer = parse.GetValue(Tokenizer),
            Pooling = parse.GetValue(Pooling), Initialization = parse.GetValue(Init), TrainingTimeInSeconds = parse.GetValue(Time),
            PositionEncoding = parse.GetValue(Encoding), AbsolutePosition = !parse.GetValue(NoApe), Sape2Mode = parse.GetValue(Mode),
            Sape2BiasSign = parse.GetValue(BiasSign), ImageSize = parse.GetValue(ImageSize), PatchSize = parse.GetValue(Patch),
            Channels = parse.GetValue(Channels), Epochs = parse.GetValue(Epochs), BatchSize = parse.GetValue(Batch),
            LearningRate = parse.GetValue(Lr), WarmupEpochs = parse.GetValue(Warmup), LabelSmoothing = parse.GetValue(Smoothing),
            WeightDecay = parse.GetValue(WeightDecay), EmaDecay = parse.GetValue(Ema), GradientClipNorm = parse.GetValue(Clip),
            EarlyStoppingPatience = parse.GetValue(Patience),
            KeepAspectByCenterCrop = parse.GetValue(KeepAspect) ? true : parse.GetValue(Stretch) ? false : null, MaxPixels = maxPixels,
            Augmentation = parse.GetValue(Augment) switch
            {
                "none" => AugmentationOptions.None,
                "full" => new AugmentationOptions(),
                "light" => AugmentationOptions.None with { RandomCropPadding = 2, HorizontalFlip = true },
                _ => null,
            },
            Device = parse.GetValue(Device)!, Precision = parse.GetValue(Precision), Seed = parse.GetValue(Seed),
            Threads = parse.GetValue(Threads), BackboneLearningRateScale = parse.GetValue(BackboneLr), InitialModel = parse.GetValue(From),
            PretrainedWeights = parse.GetValue(Pretrained), PretrainedWeightsSha256 = parse.GetValue(PretrainedSha256),
            LayerDecay = parse.GetValue(LayerDecay),
        };
        if (parse.GetValue(Recipe) is { } named)
            Recipes.Apply(named, options, flag => parse.GetResult(All.Single(o => o.Name == flag)) is { Implicit: false });
        return options;
    }
}
