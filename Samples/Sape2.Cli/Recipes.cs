using Microsoft.ML.SaPE2;

namespace Sape2.Cli;

/// <summary>
/// The two named CIFAR recipes of Docs/reproduce-cifar.md (`train --recipe paper|deit`): the paper's ViT-S/4 at 32×32
/// with a CLS token and timm's initialisation, 400 epochs of batch 128, learning rate 1e-3 (the paper does not give
/// one) after 5 warm-up epochs; `paper` trains it with Adam (no weight decay) and crop-and-flip only, `deit` with
/// DeiT's AdamW 0.05, RandAugment, Mixup/CutMix and label smoothing 0.1. A flag given on the command line wins.
/// </summary>
internal static class Recipes
{
    public static readonly string[] Names = ["paper", "deit"];

    /// <param name="given">Whether the flag of that name was on the command line.</param>
    public static void Apply(string name, Sape2ImageClassificationTrainer.Options options, Func<string, bool> given)
    {
        bool paper = name == "paper";
        void Set(string flag, Action set)
        {
            if (!given(flag)) set();
        }
        Set("--preset", () => options.Preset = VitPreset.Small);
        Set("--image-size", () => options.ImageSize = 32);
        Set("--patch", () => options.PatchSize = 4);
        Set("--channels", () => options.Channels = 3);
        Set("--tokenizer", () => options.Tokenizer = TokenizerKind.Patch);
        Set("--pooling", () => options.Pooling = PoolingKind.ClassToken);
        Set("--init", () => options.Initialization = WeightInitialization.TruncatedNormal);
        Set("--epochs", () => options.Epochs = 400);
        Set("--batch", () => options.BatchSize = 128);
        Set("--lr", () => options.LearningRate = 1e-3);
        Set("--warmup", () => options.WarmupEpochs = 5);
        Set("--ema", () => options.EmaDecay = 0);
        Set("--weight-decay", () => options.WeightDecay = paper ? 0 : 0.05);   // AdamW with no weight decay is Adam
        Set("--label-smoothing", () => options.LabelSmoothing = paper ? 0 : 0.1);
        Set("--augment", () => options.Augmentation = paper
            ? AugmentationOptions.None with { RandomCropPadding = 4, HorizontalFlip = true }
            : new AugmentationOptions());
    }
}
