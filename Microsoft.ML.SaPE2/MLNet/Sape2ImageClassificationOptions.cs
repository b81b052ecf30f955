using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2;

public sealed partial class Sape2ImageClassificationTrainer
{
    /// <summary>
    /// The defaults of <see cref="Options"/> that are fixed values, written once: the catalog's parameters, the options,
    /// the command-line tool's flags and the documentation read them here. Where the model or the engine has the same
    /// setting, the value is theirs (<see cref="VitConfig"/>, <see cref="TrainingOptions"/>, <see cref="ImageFormat"/>), so
    /// the layers cannot disagree. Options whose default is null are chosen at <c>Fit</c> by the automatic recipe
    /// (<see cref="AutoRecipe"/>, Docs/small-data.md).
    /// </summary>
    public static class Defaults
    {
        /// <summary>Label column.</summary>
        public const string LabelColumnName = "Label";
        /// <summary>Image column.</summary>
        public const string FeatureColumnName = "Features";
        /// <summary>Score column.</summary>
        public const string ScoreColumnName = "Score";
        /// <summary>Predicted label column.</summary>
        public const string PredictedLabelColumnName = "PredictedLabel";
        /// <summary>Share of the training data held back for validation without a validation set: 0.1, as ML.NET's ImageClassification.</summary>
        public const double ValidationSetFraction = 0.1;
        /// <summary>Height and width of non-square inputs: 0, use the image size.</summary>
        public const int ImageHeight = 0, ImageWidth = 0;
        /// <summary>Largest image accepted, in pixels: 64 megapixels.</summary>
        public static readonly long MaxPixels = new ImageFormat().MaxPixels;
        /// <summary>Position encoding: SaPE².</summary>
        public static readonly PositionEncodingKind PositionEncoding = new VitConfig().PositionEncoding;
        /// <summary>"+APE": yes.</summary>
        public static readonly bool AbsolutePosition = new VitConfig().AbsolutePosition;
        /// <summary>SaPE² mode: K.</summary>
        public static readonly Sape2Mode Sape2Mode = new VitConfig().Sape2Mode;
        /// <summary>Sign σ of the SaPE² bias: +1, the paper's.</summary>
        public static readonly double Sape2BiasSign = new VitConfig().Sape2BiasSign;
        /// <summary>AdamW weight decay: 0.05.</summary>
        public static readonly double WeightDecay = new TrainingOptions().WeightDecay;
        /// <summary>Weight EMA decay: 0, off.</summary>
        public static readonly double EmaDecay = new TrainingOptions().EmaDecay;
        /// <summary>Gradient clipping norm: 1.</summary>
        public static readonly double GradientClipNorm = new TrainingOptions().GradientClipNorm;
        /// <summary>Early-stopping patience: 0, off.</summary>
        public static readonly int EarlyStoppingPatience = new TrainingOptions().EarlyStoppingPatience;
        /// <summary>Device: "auto".</summary>
        public static readonly string Device = new TrainingOptions().Device;
        /// <summary>Training precision: fp32.</summary>
        public static readonly TrainingPrecision Precision = new TrainingOptions().Precision;
        /// <summary>libtorch CPU threads: 0, one per core.</summary>
        public static readonly int Threads = new TrainingOptions().Threads;
    }

    /// <summary>
    /// Every option of the SaPE² image-classification trainer. Options left null (or 0 where noted) are chosen by
    /// <see cref="AutoRecipe"/> from the device, the images and their number, and logged through <c>MLContext.Log</c>;
    /// a value you set always wins. Docs/small-data.md lists each rule.
    /// </summary>
    public sealed class Options
    {
        /// <summary>The label column: a key type (use <c>MapValueToKey</c>). Default "Label".</summary>
        public string LabelColumnName = Defaults.LabelColumnName;
        /// <summary>The image column: VarVector&lt;Byte&gt; from <c>LoadRawImageBytes</c> or Image from <c>LoadImages</c>. Default
        /// "Features".</summary>
        public string FeatureColumnName = Defaults.FeatureColumnName;
        /// <summary>The output score column: one probability per class, in key order. Default "Score".</summary>
        public string ScoreColumnName = Defaults.ScoreColumnName;
        /// <summary>The output predicted-label column, of the label's key type. Default "PredictedLabel".</summary>
        public string PredictedLabelColumnName = Defaults.PredictedLabelColumnName;
        /// <summary>Data scored after every epoch to pick the best weights and for early stopping; null: see <see
        /// cref="ValidationSetFraction"/>.</summary>
        public IDataView? ValidationSet;
        /// <summary>
        /// Without a <see cref="ValidationSet"/>, this fraction of the training data is held back, stratified by class, to
        /// pick the best epoch and for early stopping (ML.NET's ImageClassification does the same). Default 0.1; null or 0:
        /// train on everything without validation.
        /// </summary>
        public double? ValidationSetFraction = Defaults.ValidationSetFraction;
        /// <summary>
        /// After a run that held back <see cref="ValidationSetFraction"/> of the training data, train once more on every row, for the
        /// epochs the first run chose, and return that model (AutoGluon's <c>refit_full</c>): the held-back images then teach too,
        /// and the epoch is not picked on a handful of images. The log keeps the first run's validation figures; the returned
        /// model's are not measured (it learned from those rows). Null: automatic — on with the frozen pretrained backbone, where
        /// a second run costs seconds and a tenth of a few hundred photos is too few to pick an epoch on; off otherwise. It never
        /// applies with a <see cref="ValidationSet"/>, after a cancellation, or when <see cref="TrainingTimeInSeconds"/> leaves no
        /// time for it.
        /// </summary>
        public bool? RefitOnAllRows;

        /// <summary>Model size; null: automatic (Micro on a CPU; Tiny on a GPU with 10,000 images or more). The paper's backbone is <see
        /// cref="VitPreset.Small"/>.</summary>
        public VitPreset? Preset;
        /// <summary>Images are resized to ImageSize × ImageSize pixels (unless <see cref="ImageHeight"/>/<see cref="ImageWidth"/> are
        /// set); null: 224 for colour photos going to the pretrained backbone, else the images' median side, within [16, 32] on a CPU
        /// or [16, 64] on a GPU.</summary>
        public int? ImageSize;
        /// <summary>Input height for non-square models; 0: <see cref="ImageSize"/>.</summary>
        public int ImageHeight = Defaults.ImageHeight;
        /// <summary>Input width for non-square models; 0: <see cref="ImageSize"/>.</summary>
        public int ImageWidth = Defaults.ImageWidth;
        /// <summary>
        /// Pixels per token along each side: the patch side with <see cref="TokenizerKind.Patch"/> (it must divide the image
        /// size; 4 gives the paper's 8×8 grid at 32×32), the token stride (2, 4, 8, 16 or 32) with
        /// <see cref="TokenizerKind.Convolutional"/>, where the backbone is cut (16: after its third stage, 32: after its last) with
        /// <see cref="TokenizerKind.PretrainedBackbone"/>. Null: the smallest power of two that gives at most 8 tokens a side; 32 with
        /// the backbone.
        /// </summary>
        public int? PatchSize;
        /// <summary>1 (grayscale) or 3 (RGB); null: 1 when every surveyed training image is grayscale, else 3.</summary>
        public int? Channels;
        /// <summary>How images become tokens; null: <see cref="TokenizerKind.PretrainedBackbone"/> for colour photos (median stored
        /// side 64 or more) when the backbone's files are present, else <see cref="TokenizerKind.Convolutional"/>. The paper: <see
        /// cref="TokenizerKind.Patch"/>.</summary>
        public TokenizerKind? Tokenizer;
        /// <summary>
        /// A timm <c>vit_*</c> / <c>deit_*</c> checkpoint (safetensors) to fine-tune: a local path, or an http(s) URL downloaded once into a
        /// cache (<c>SAPE2_CACHE</c>, else the user's local application data). The model takes the checkpoint's architecture (patch size,
        /// width, depth) with the position encoding set here; the head is new, <c>pos_embed</c> is resampled to the grid, and SaPE²
        /// (behind a gate at 0), CoPE and RoPE-Mixed start where the model computes the pretrained function. Null: none.
        /// </summary>
        public string? PretrainedWeights;
        /// <summary>The expected SHA-256 (hex) of <see cref="PretrainedWeights"/>; a file that differs is refused. Null: not checked.</summary>
        public string? PretrainedWeightsSha256;
        /// <summary>Layer-wise learning-rate decay for fine-tuning, within (0, 1]: block i of d trains at <c>decay^(d − i)</c> of the
        /// rate (BEiT, timm's <c>layer_decay</c>, e.g. 0.75). Null: none.</summary>
        public double? LayerDecay;
        /// <summary>
        /// A model.zip saved from a SaPE² pipeline to start from — retraining on new data. Its architecture, input size, pixel
        /// normalisation and weights are used (the architecture options here are ignored); the new data's classes may differ: a class
        /// the model knows keeps its head row, a new one starts fresh. Null: start from scratch or from the pretrained backbone.
        /// </summary>
        public string? InitialModel;
        /// <summary>
        /// With <see cref="TokenizerKind.PretrainedBackbone"/>: the backbone's learning rate as a fraction of the rest's, within
        /// [0, 1]; 0 freezes it, and each image's features are then computed once and reused every epoch (the fast CPU path).
        /// Null: 0. Batch normalisation inside the backbone keeps its ImageNet statistics either way.
        /// </summary>
        public double? BackboneLearningRateScale;
        /// <summary>
        /// The folder holding <c>ResNetPrepOnnx/ResNetPreprocess.onnx</c> and <c>ResNet18Onnx/ResNet18.onnx</c> of the NuGet package
        /// Microsoft.ML.DnnImageFeaturizer.ResNet18 (a dependency of this library, which copies them to the application's
        /// <c>DnnImageModels</c> folder); null: that folder. A trained model carries the backbone's weights, so only training reads them.
        /// </summary>
        public string? BackboneFolder;
        /// <summary>How the final tokens become the image's features; null: <see cref="PoolingKind.SequencePooling"/>. The paper: <see
        /// cref="PoolingKind.ClassToken"/>.</summary>
        public PoolingKind? Pooling;
        /// <summary>Initialisation of the linear layers; null: <see cref="WeightInitialization.PyTorchDefault"/>. The paper: <see
        /// cref="WeightInitialization.TruncatedNormal"/>.</summary>
        public WeightInitialization? Initialization;
        /// <summary>Crop images to the model's aspect ratio before resizing instead of stretching them; null: true for photos going to a
        /// pretrained network (ImageNet networks learnt from centre crops: stretching distorts what they see), false otherwise.</summary>
        public bool? KeepAspectByCenterCrop;
        /// <summary>Per-channel pixel mean and std (pixels in [0, 1]); null: 0.5 and 0.5, or pixel values in [0, 255] with the pretrained
        /// backbone (what its network takes; another normalisation is refused there).</summary>
        public Normalization? Normalization;
        /// <summary>Images with more pixels are refused (decompression bombs). Default 64 megapixels.</summary>
        public long MaxPixels = Defaults.MaxPixels;

        /// <summary>Stochastic depth: the rate at which the last block's residual branches are dropped in training, rising
        /// linearly from 0 at the first block (timm's <c>drop_path_rate</c>), within [0, 1); null: the preset's (0 for Micro, 0.1
        /// otherwise).</summary>
        public double? DropPathRate;

        /// <summary>Position encoding. Default <see cref="PositionEncodingKind.Sape2"/>.</summary>
        public PositionEncodingKind PositionEncoding = Defaults.PositionEncoding;
        /// <summary>Add the learned absolute embedding to RoPE, CoPE and SaPE² ("+APE"). Default true.</summary>
        public bool AbsolutePosition = Defaults.AbsolutePosition;
        /// <summary>SaPE² K mode (default, the paper's best) or Q mode.</summary>
        public Sape2Mode Sape2Mode = Defaults.Sape2Mode;
        /// <summary>
        /// Sign σ of the SaPE² bias in <c>(q·k + σ·b)/√d</c>: +1 (default, the paper: pairs further apart in content
        /// attend more) or −1 (further apart attend less, as distance-decay biases do). The bias is a distance, never negative.
        /// </summary>
        public double Sape2BiasSign = Defaults.Sape2BiasSign;

        /// <summary>Passes over the training data; null: about 50,000 image passes on a CPU (19 epochs of the 2,700 images that train of
        /// 3,000) or 2,000,000 on a GPU, within [5, 100] or [5, 300]; 40 over cached features with the pretrained backbone.</summary>
        public int? Epochs;
        /// <summary>
        /// Wall-clock budget of <c>Fit</c> in seconds, image decoding included; null: none. The schedule shrinks to the
        /// epochs that fit and the best weights so far are returned when it ends.
        /// </summary>
        public double? TrainingTimeInSeconds;
        /// <summary>Images per step; null: 64 on a CPU, 128 on a GPU, or an eighth of the images when fewer.</summary>
        public int? BatchSize;
        /// <summary>Peak AdamW learning rate after warm-up; null: 3e-3 (the DeiT recipe's 1e-3 suits long runs).</summary>
        public double? LearningRate;
        /// <summary>AdamW weight decay on weight matrices. Default 0.05.</summary>
        public double WeightDecay = Defaults.WeightDecay;
        /// <summary>Epochs of linear warm-up (at most half the run); null: 1.</summary>
        public double? WarmupEpochs;
        /// <summary>Label smoothing within [0, 1); null: 0.1.</summary>
        public double? LabelSmoothing;
        /// <summary>
        /// Training augmentation; <see cref="AugmentationOptions.None"/> turns it off and <c>new AugmentationOptions()</c> is
        /// DeiT's (RandAugment, Mixup/CutMix). Null: random crop with about side/14 pixels of padding and horizontal flip.
        /// </summary>
        public AugmentationOptions? Augmentation;
        /// <summary>Weight EMA decay (e.g. 0.999); 0: off. Default 0.</summary>
        public double EmaDecay = Defaults.EmaDecay;
        /// <summary>Gradient clipping norm; 0: off. Default 1.</summary>
        public double GradientClipNorm = Defaults.GradientClipNorm;
        /// <summary>Stop after this many epochs without a better validation accuracy (ML.NET's early-stopping patience); 0: off. Needs
        /// <see cref="ValidationSet"/>.</summary>
        public int EarlyStoppingPatience = Defaults.EarlyStoppingPatience;
        /// <summary>"auto" (CUDA when available), "cpu", "cuda" or "cuda:N". Default "auto".</summary>
        /// <remarks>
        /// Precedence: a value other than "auto" wins; else <c>MLContext.GpuDeviceId = N</c> means "cuda:N", falling back to
        /// the CPU without CUDA when <c>MLContext.FallbackToCpu</c> is true and failing when it is false (as ML.NET's
        /// TorchSharp trainers do); else CUDA when available. The log names the device and the rule that chose it.
        /// </remarks>
        public string Device = Defaults.Device;
        /// <summary>
        /// The number format of the training steps. Default <see cref="TrainingPrecision.Float32"/>;
        /// <see cref="TrainingPrecision.BFloat16"/> is bf16 mixed precision with fp32 master weights, for large images on a GPU.
        /// Validation and scoring run in fp32 either way, and the saved model is the same fp32 model.
        /// </summary>
        public TrainingPrecision Precision = Defaults.Precision;
        /// <summary>CPU threads for libtorch; 0: one per core.</summary>
        public int Threads = Defaults.Threads;
        /// <summary>Seed of initialisation, shuffling and augmentation; null: drawn from the MLContext's seed.</summary>
        public int? Seed;
        /// <summary>Folder for epoch checkpoints (last.ckpt, best.ckpt); null: none, or the <see cref="ResumeFrom"/> folder when resuming.</summary>
        public string? CheckpointDirectory;
        /// <summary>
        /// A <c>last.ckpt</c>, or the folder that holds one, written by an earlier run on the same data with the same options:
        /// training continues after its last completed epoch, and with the same <see cref="Seed"/> on a CPU ends with the
        /// weights the uninterrupted run would have reached. Null: start afresh.
        /// </summary>
        public string? ResumeFrom;
        /// <summary>Called after every epoch with that epoch's figures (ML.NET's MetricsCallback).</summary>
        public Action<TrainingProgress>? MetricsCallback;
        /// <summary>Receives progress every few steps and at each epoch's end.</summary>
        public IProgress<TrainingProgress>? Progress;
        /// <summary>Stops training within one step; the best model so far is returned.</summary>
        public CancellationToken CancellationToken;

        /// <summary>A field-by-field copy (the same data views, callbacks and augmentation records): a template's options for one run.</summary>
        internal Options Copy() => (Options)MemberwiseClone();
    }
}
