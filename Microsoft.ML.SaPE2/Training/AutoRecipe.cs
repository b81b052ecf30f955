using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>One automatic choice: the option it fills, the value and the rule behind it (logged, and listed in Docs/small-data.md).</summary>
internal sealed record RecipeChoice(RecipeOption Option, string Value, string Rule);

/// <summary>The trainer options an automatic recipe fills when the user leaves them unset (named as the options are).</summary>
internal enum RecipeOption
{
    ImageSize, Channels, Tokenizer, PatchSize, Pooling, Initialization, Preset, Epochs, BatchSize, LearningRate, WarmupEpochs, LabelSmoothing,
    Augmentation, BackboneLearningRateScale, KeepAspectByCenterCrop, RefitOnAllRows,
}

/// <summary>
/// The defaults the trainer picks when an option is left unset, from the device, the images' size and the number of
/// training images. Each rule is measured on the embedded Fashion-MNIST subset on a 2-core CPU (Docs/small-data.md);
/// the aim is the best held-out accuracy a user gets in a few minutes of CPU time, not the paper's 400-epoch recipe,
/// which stays reachable by setting the options (<see cref="VitPreset"/>, <see cref="TokenizerKind.Patch"/>,
/// <see cref="PoolingKind.ClassToken"/>, <see cref="WeightInitialization.TruncatedNormal"/>, DeiT augmentation).
/// </summary>
internal static class AutoRecipe
{
    /// <summary>The largest automatic image side on a CPU: beyond it a step costs more than small data repays.</summary>
    public const int CpuMaxImageSide = 32;
    /// <summary>The largest automatic image side on a GPU.</summary>
    public const int GpuMaxImageSide = 64;
    /// <summary>The smallest automatic image side.</summary>
    public const int MinImageSide = 16;
    /// <summary>The automatic token grid has at most this many tokens a side (7×7 for 28-pixel images).</summary>
    public const int MaxGridSide = 8;
    /// <summary>Image passes a CPU run aims at: under 3 minutes of Micro training on 2 cores (Docs/small-data.md).</summary>
    public const int CpuImagePasses = 50_000;
    /// <summary>Image passes a GPU run aims at.</summary>
    public const int GpuImagePasses = 2_000_000;

    /// <summary>Peak learning rate: a high rate suits small models and short runs (measured).</summary>
    public const double LearningRate = 3e-3;
    /// <summary>Label smoothing (DeiT's 0.1; 0.4 points better than 0 in 12-epoch runs on the embedded data).</summary>
    public const double LabelSmoothing = 0.1;
    /// <summary>Warm-up epochs: longer warm-up wastes a short run.</summary>
    public const double WarmupEpochs = 1;

    /// <summary>Colour images whose median stored side is at least this are photos: the pretrained backbone's domain.</summary>
    public const int PhotoMinSide = 64;
    /// <summary>The pretrained backbone's input side: the ImageNet networks' 224.</summary>
    public const int PretrainedImageSide = 224;
    /// <summary>The pretrained backbone's token stride: cut after its last stage (7×7 tokens at 224 px, its most semantic features).</summary>
    public const int PretrainedStride = 32;

    /// <summary>Whether <paramref name="survey"/> describes photos: colour, and a median side of at least <see cref="PhotoMinSide"/>.</summary>
    public static bool ArePhotos(ImageSurvey survey) => !survey.Grayscale && survey.MedianSide >= PhotoMinSide;

    /// <summary>
    /// Image side and channels, from a survey of the stored images: photos (<see cref="ArePhotos"/>) go to the pretrained
    /// backbone's <see cref="PretrainedImageSide"/> when <paramref name="backboneAvailable"/>, everything else to a small side.
    /// </summary>
    /// <param name="survey">The stored images.</param>
    /// <param name="cuda">Whether training runs on a GPU.</param>
    /// <param name="backboneAvailable">Whether the pretrained backbone's files are present.</param>
    /// <param name="backboneChosen">Whether the user chose the pretrained backbone (it then takes its native side whatever the images).</param>
    public static (int ImageSize, int Channels, IReadOnlyList<RecipeChoice> Choices) ChooseFormat(ImageSurvey survey, bool cuda,
        bool backboneAvailable = false, bool backboneChosen = false)
    {
        if (backboneChosen || backboneAvailable && ArePhotos(survey))
            return (PretrainedImageSide, 3, new[]
            {
                new RecipeChoice(RecipeOption.ImageSize, $"{PretrainedImageSide}", backboneChosen ? "the ImageNet backbone's native side" :
                    $"colour photos (median stored side {survey.MedianWidth}×{survey.MedianHeight}, at least {PhotoMinSide}) go to the " +
                    "ImageNet backbone at the side it was trained at"),
                new RecipeChoice(RecipeOption.Channels, "3", "the ImageNet backbone takes colour images"),
            });
        int cap = cuda ? GpuMaxImageSide : CpuMaxImageSide;
        int side = Math.Clamp(survey.MedianSide, MinImageSide, cap);
        int channels = survey.Grayscale ? 1 : 3;
        return (side, channels, new[]
        {
            new RecipeChoice(RecipeOption.ImageSize, $"{side}", $"the median stored side of {survey.Images} surveyed images " +
                $"({survey.MedianWidth}×{survey.MedianHeight}), kept within [{MinImageSide}, {cap}] on {(cuda ? "a GPU" : "a CPU")}"),
            new RecipeChoice(RecipeOption.Channels, $"{channels}",
                survey.Grayscale ? "every surveyed image is grayscale" : "the surveyed images have colour"),
        });
    }

    /// <summary>
    /// Architecture and training recipe for <paramref name="trainingImages"/> images of the chosen size: from scratch, or on the
    /// frozen features of the pretrained backbone when <paramref name="pretrained"/>.
    /// </summary>
    public static Recipe Choose(int trainingImages, int imageHeight, int imageWidth, int channels, bool cuda, bool pretrained = false)
    {
        if (pretrained) return ChoosePretrained(trainingImages, cuda);
        int side = Math.Max(imageHeight, imageWidth);
        int stride = 2;
        while (ConvolutionalTokenizer.TokensAlong(side, stride) > MaxGridSide && stride < 32) stride *= 2;
        var preset = cuda && trainingImages >= 10_000 ? VitPreset.Tiny : VitPreset.Micro;
        int batch = Math.Clamp(trainingImages / 8, 8, cuda ? 128 : 64);
        int passes = cuda ? GpuImagePasses : CpuImagePasses, maxEpochs = cuda ? 300 : 100;
        int epochs = Math.Clamp((int)Math.Round((double)passes / trainingImages), 5, maxEpochs);
        int padding = Math.Max(1, (int)Math.Round(side / 14.0));
        bool flip = channels == 3;
        var augmentation = AugmentationOptions.None with { RandomCropPadding = padding, HorizontalFlip = flip };
        string device = cuda ? "a GPU" : "a CPU";
        string grid = $"{ConvolutionalTokenizer.TokensAlong(imageHeight, stride)}×{ConvolutionalTokenizer.TokensAlong(imageWidth, stride)}";
        var choices = new List<RecipeChoice>
        {
            new(RecipeOption.Tokenizer, $"{TokenizerKind.Convolutional}",
                "a convolutional stem learns far faster than linear patches from a few thousand images (CCT; measured)"),
            new(RecipeOption.PatchSize, $"{stride}",
                $"the smallest power-of-two token stride that gives at most {MaxGridSide} tokens a side ({grid})"),
            new(RecipeOption.Pooling, $"{PoolingKind.SequencePooling}",
                "sequence pooling trains every token and every layer's SaPE² tables (a CLS head leaves the last layer's without gradient)"),
            new(RecipeOption.Initialization, $"{WeightInitialization.PyTorchDefault}",
                "PyTorch's default initialisation learns faster in short runs than timm's truncated normal (measured)"),
            new(RecipeOption.Preset, $"{preset}", !cuda ? "a CPU: Micro trains in minutes"
                : preset == VitPreset.Tiny ? "a GPU and at least 10,000 images" : "fewer than 10,000 images: a small model overfits less"),
            new(RecipeOption.Epochs, $"{epochs}",
                $"about {passes:N0} image passes on {device} ({trainingImages:N0} images), within [5, {maxEpochs}]"),
            new(RecipeOption.BatchSize, $"{batch}", $"{(cuda ? 128 : 64)}, or an eighth of the images when fewer"),
            new(RecipeOption.LearningRate, Invariant(LearningRate), "a high rate suits small models and short runs (measured)"),
            new(RecipeOption.WarmupEpochs, Invariant(WarmupEpochs), "one epoch: longer warm-up wastes a short run"),
            new(RecipeOption.LabelSmoothing, Invariant(LabelSmoothing),
                "as DeiT; on the embedded Fashion-MNIST subset it added 0.4 points in a 12-epoch run"),
            new(RecipeOption.Augmentation, $"crop (padding {padding}){(flip ? " and flip" : "")}",
                "light augmentation (RandAugment and Mixup/CutMix only pay off over hundreds of epochs); " + (flip
                    ? "mirroring for colour images (photographs)"
                    : "no mirroring for grayscale images (digits and characters are not mirror-symmetric; " +
                      "Fashion-MNIST measured the same without)")),
        };
        return new Recipe(stride, preset, epochs, batch, LearningRate, WarmupEpochs, LabelSmoothing, augmentation, choices);
    }

    /// <summary>Epochs over the cached features of a frozen backbone: each one costs a fraction of a from-scratch epoch.</summary>
    public const int PretrainedEpochs = 40;
    /// <summary>Versions of each training image whose features are cached: the image and seven augmented copies.</summary>
    public const int PretrainedFeatureViews = 8;

    private static Recipe ChoosePretrained(int trainingImages, bool cuda)
    {
        int batch = Math.Clamp(trainingImages / 8, 8, 32);
        var augmentation = AugmentationOptions.None with { RandomResizedCrop = true, ResizedCropMinScale = 0.5, HorizontalFlip = true };
        var choices = new List<RecipeChoice>
        {
            new(RecipeOption.Tokenizer, $"{TokenizerKind.PretrainedBackbone}", "colour photos: start from ImageNet features (ML.NET's ResNet18) " +
                "instead of learning a stem from a few hundred images"),
            new(RecipeOption.PatchSize, $"{PretrainedStride}", "the backbone cut after its last stage: 7×7 tokens of its most semantic features"),
            new(RecipeOption.BackboneLearningRateScale, "0",
                "frozen: each image's features are computed once and reused every epoch (the fast CPU path)"),
            new(RecipeOption.KeepAspectByCenterCrop, "true", "ImageNet networks learnt from centre crops; stretched photos distort what they see"),
            new(RecipeOption.Pooling, $"{PoolingKind.GlobalAverage}", "the mean of the tokens, as the backbone's own classifier pools its features"),
            new(RecipeOption.Initialization, $"{WeightInitialization.PyTorchDefault}", "learns faster in short runs (measured)"),
            new(RecipeOption.Preset, $"{VitPreset.Micro}", "a small transformer on top of the pretrained features: few images to learn from"),
            new(RecipeOption.Epochs, $"{PretrainedEpochs}", "epochs over cached features cost little"),
            new(RecipeOption.BatchSize, $"{batch}", "32, or an eighth of the images when fewer"),
            new(RecipeOption.LearningRate, Invariant(1e-3), "the backbone's features are already good: a gentler rate than from scratch"),
            new(RecipeOption.WarmupEpochs, Invariant(WarmupEpochs), "one epoch"),
            new(RecipeOption.LabelSmoothing, Invariant(LabelSmoothing), "as DeiT"),
            new(RecipeOption.Augmentation, $"random resized crop (from half the area) and flip, in {PretrainedFeatureViews} cached views",
                $"the frozen backbone sees each training image and {PretrainedFeatureViews - 1} augmented copies once"),
            new(RecipeOption.RefitOnAllRows, "true", "a second run on every row after the validated one: the held-back tenth of a few " +
                "hundred photos is too few to pick an epoch on, and over cached features the run costs seconds"),
        };
        return new Recipe(PretrainedStride, VitPreset.Micro, PretrainedEpochs, batch, 1e-3, WarmupEpochs, LabelSmoothing, augmentation, choices)
        {
            Tokenizer = TokenizerKind.PretrainedBackbone, Pooling = PoolingKind.GlobalAverage, FeatureViews = PretrainedFeatureViews,
            Normalization = Normalization.PixelValues(3), RefitOnAllRows = true,
        };
    }

    /// <summary>
    /// The recipe for fine-tuning a pretrained ViT (timm weights) on a few images: a gentle rate (AdamW 1e-4 at batch 16, timm's and
    /// DeiT's fine-tuning range), few epochs, random resized crops and flips, ImageNet's pixel statistics (DeiT's); the architecture is
    /// the checkpoint's.
    /// </summary>
    public static Recipe ChooseFineTune(int trainingImages, int patchSize, bool cuda)
    {
        int batch = Math.Clamp(trainingImages / 8, 4, cuda ? 64 : 16);
        int epochs = cuda ? 20 : 10;
        var augmentation = AugmentationOptions.None with { RandomResizedCrop = true, ResizedCropMinScale = 0.5, HorizontalFlip = true };
        var choices = new List<RecipeChoice>
        {
            new(RecipeOption.Epochs, $"{epochs}", "fine-tuning pretrained weights needs few passes"),
            new(RecipeOption.BatchSize, $"{batch}", $"{(cuda ? 64 : 16)}, or an eighth of the images when fewer"),
            new(RecipeOption.LearningRate, Invariant(1e-4), "fine-tuning: a rate that keeps the pretrained features (timm, DeiT)"),
            new(RecipeOption.WarmupEpochs, Invariant(WarmupEpochs), "one epoch"),
            new(RecipeOption.LabelSmoothing, Invariant(LabelSmoothing), "as DeiT"),
            new(RecipeOption.Augmentation, "random resized crop (from half the area) and flip", "light augmentation for a short fine-tune"),
            new(RecipeOption.KeepAspectByCenterCrop, "true", "timm's ViTs learnt from centre crops; stretched photos distort what they see"),
        };
        return new Recipe(patchSize, VitPreset.Tiny, epochs, batch, 1e-4, WarmupEpochs, LabelSmoothing, augmentation, choices)
        {
            Tokenizer = TokenizerKind.Patch, Pooling = PoolingKind.ClassToken, Normalization = ImageNetStatistics,
        };
    }

    /// <summary>ImageNet's per-channel mean and std (DeiT's and torchvision's normalisation).</summary>
    public static Normalization ImageNetStatistics { get; } = new(new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f });

    private static string Invariant(double value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The values <see cref="Choose"/> picked, with the reasons in <see cref="Choices"/>.</summary>
    public sealed record Recipe(int PatchSize, VitPreset Preset, int Epochs, int BatchSize, double LearningRate, double WarmupEpochs,
                                double LabelSmoothing, AugmentationOptions Augmentation, IReadOnlyList<RecipeChoice> Choices)
    {
        /// <summary>Tokenizer of the recipe.</summary>
        public TokenizerKind Tokenizer { get; init; } = TokenizerKind.Convolutional;
        /// <summary>Pooling of the recipe.</summary>
        public PoolingKind Pooling { get; init; } = PoolingKind.SequencePooling;
        /// <summary>Initialisation of the recipe.</summary>
        public WeightInitialization Initialization => WeightInitialization.PyTorchDefault;
        /// <summary>Cached feature views per training image (a frozen backbone).</summary>
        public int FeatureViews { get; init; } = new TrainingOptions().FeatureViews;
        /// <summary>Pixel normalisation; null: the default (0.5, 0.5).</summary>
        public Normalization? Normalization { get; init; }
        /// <summary>Whether a run that held back validation rows is followed by one on every row (see the option of that name).</summary>
        public bool RefitOnAllRows { get; init; }
    }
}
