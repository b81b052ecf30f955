using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.MLNet;

public sealed partial class Sape2ImageClassificationTrainer
{
    /// <summary>The defaults of <see cref="Options"/>, written once and shared with the catalog.</summary>
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
        /// <summary>Image side in pixels.</summary>
        public const int ImageSize = 32;
        /// <summary>Patch side in pixels.</summary>
        public const int PatchSize = 4;
        /// <summary>Color channels.</summary>
        public const int Channels = 3;
        /// <summary>Epochs.</summary>
        public const int Epochs = 50;
        /// <summary>Batch size.</summary>
        public const int BatchSize = 128;
        /// <summary>Peak learning rate.</summary>
        public const double LearningRate = 1e-3;
    }

    /// <summary>Every option of the SaPE² image-classification trainer. Defaults: <see cref="Defaults"/> and <see cref="TrainingOptions"/>.</summary>
    public sealed class Options
    {
        /// <summary>The label column: a key type (use <c>MapValueToKey</c>). Default "Label".</summary>
        public string LabelColumnName = Defaults.LabelColumnName;
        /// <summary>The image column: VarVector&lt;Byte&gt; from <c>LoadRawImageBytes</c> or Image from <c>LoadImages</c>. Default "Features".</summary>
        public string FeatureColumnName = Defaults.FeatureColumnName;
        /// <summary>The output score column: one probability per class, in key order. Default "Score".</summary>
        public string ScoreColumnName = Defaults.ScoreColumnName;
        /// <summary>The output predicted-label column, of the label's key type. Default "PredictedLabel".</summary>
        public string PredictedLabelColumnName = Defaults.PredictedLabelColumnName;
        /// <summary>Data scored after every epoch to pick the best weights and for early stopping; null: train without validation.</summary>
        public IDataView? ValidationSet;

        /// <summary>Model size. Default <see cref="VitPreset.Tiny"/>; <see cref="VitPreset.Micro"/> trains in minutes on a laptop CPU.</summary>
        public VitPreset Preset = VitPreset.Tiny;
        /// <summary>Images are resized to ImageSize × ImageSize pixels (unless <see cref="ImageHeight"/>/<see cref="ImageWidth"/> are set). Default 32.</summary>
        public int ImageSize = Defaults.ImageSize;
        /// <summary>Input height for non-square models; 0: <see cref="ImageSize"/>.</summary>
        public int ImageHeight;
        /// <summary>Input width for non-square models; 0: <see cref="ImageSize"/>.</summary>
        public int ImageWidth;
        /// <summary>Patch side; must divide the image size. Default 4 (an 8×8 grid at 32×32, the paper's setting).</summary>
        public int PatchSize = Defaults.PatchSize;
        /// <summary>1 (grayscale) or 3 (RGB). Default 3.</summary>
        public int Channels = Defaults.Channels;
        /// <summary>Crop images to the model's aspect ratio before resizing instead of stretching them. Default false.</summary>
        public bool KeepAspectByCenterCrop;
        /// <summary>Per-channel pixel mean and std (pixels in [0, 1]); null: 0.5 and 0.5. <see cref="Data.Normalization.Compute"/> measures a data set's.</summary>
        public Normalization? Normalization;
        /// <summary>Images with more pixels are refused (decompression bombs). Default 64 megapixels.</summary>
        public long MaxPixels = new ImageFormat().MaxPixels;

        /// <summary>Position encoding. Default <see cref="PositionEncodingKind.Sape2"/>.</summary>
        public PositionEncodingKind PositionEncoding = PositionEncodingKind.Sape2;
        /// <summary>Add the learned absolute embedding to RoPE, CoPE and SaPE² ("+APE"). Default true.</summary>
        public bool AbsolutePosition = true;
        /// <summary>SaPE² K mode (default, the paper's best) or Q mode.</summary>
        public Sape2Mode Sape2Mode = Sape2Mode.Key;

        /// <summary>Passes over the training data. Default 50.</summary>
        public int Epochs = Defaults.Epochs;
        /// <summary>Images per step. Default 128.</summary>
        public int BatchSize = Defaults.BatchSize;
        /// <summary>Peak AdamW learning rate after warm-up. Default 1e-3.</summary>
        public double LearningRate = Defaults.LearningRate;
        /// <summary>AdamW weight decay on weight matrices. Default 0.05.</summary>
        public double WeightDecay = new TrainingOptions().WeightDecay;
        /// <summary>Epochs of linear warm-up. Default 5 (at most half the run).</summary>
        public double WarmupEpochs = new TrainingOptions().WarmupEpochs;
        /// <summary>Label smoothing within [0, 1). Default 0.1.</summary>
        public double LabelSmoothing = new TrainingOptions().LabelSmoothing;
        /// <summary>Training augmentation; <see cref="AugmentationOptions.None"/> turns it off. Default: crop, flip, RandAugment, Mixup/CutMix.</summary>
        public AugmentationOptions Augmentation = new();
        /// <summary>Weight EMA decay (e.g. 0.999); 0: off. Default 0.</summary>
        public double EmaDecay;
        /// <summary>Gradient clipping norm; 0: off. Default 1.</summary>
        public double GradientClipNorm = new TrainingOptions().GradientClipNorm;
        /// <summary>Stop after this many epochs without a better validation accuracy (ML.NET's early-stopping patience); 0: off. Needs <see cref="ValidationSet"/>.</summary>
        public int EarlyStoppingPatience;
        /// <summary>"auto" (CUDA when available), "cpu", "cuda" or "cuda:N". Default "auto".</summary>
        public string Device = "auto";
        /// <summary>CPU threads for libtorch; 0: one per core.</summary>
        public int Threads;
        /// <summary>Seed of initialisation, shuffling and augmentation; null: drawn from the MLContext's seed.</summary>
        public int? Seed;
        /// <summary>Folder for epoch checkpoints (last.ckpt, best.ckpt); null: none.</summary>
        public string? CheckpointDirectory;
        /// <summary>Called after every epoch with that epoch's figures (ML.NET's MetricsCallback).</summary>
        public Action<TrainingProgress>? MetricsCallback;
        /// <summary>Receives progress every few steps and at each epoch's end.</summary>
        public IProgress<TrainingProgress>? Progress;
        /// <summary>Stops training within one step; the best model so far is returned.</summary>
        public CancellationToken CancellationToken;
    }
}
