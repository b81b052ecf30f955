using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.MLNet;

/// <summary>
/// Trains a vision transformer with SaPE² (or another position encoding) as an ML.NET multiclass trainer.
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// ### Input and output columns
/// | Input column | Type | Description |
/// | -- | -- | -- |
/// | `Features` (FeatureColumnName) | VarVector&lt;Byte&gt; (encoded image file) or Image | the image |
/// | `Label` (LabelColumnName) | key type | the class, from `MapValueToKey` |
///
/// | Output column | Type | Description |
/// | -- | -- | -- |
/// | `Score` | known-size vector of Single | one probability per class, in key order (slot names = key values) |
/// | `PredictedLabel` | the label's key type | the most probable class |
///
/// ### Trainer characteristics
/// | | |
/// | -- | -- |
/// | Machine learning task | Multiclass classification |
/// | Is normalization required? | No (the trainer normalises pixels) |
/// | Is caching required? | No (images are decoded once, into memory at model size) |
/// | Required NuGet in addition to Microsoft.ML | Microsoft.ML.SaPE2, Microsoft.ML.ImageAnalytics, a libtorch package (libtorch-cpu-*, TorchSharp-cuda-*) |
/// | Exportable to ONNX | No |
/// ]]></format>
/// </remarks>
public sealed partial class Sape2ImageClassificationTrainer : IEstimator<Sape2ImageClassificationTransformer>
{
    internal const string LoadName = nameof(Sape2ImageClassificationTrainer);
    private readonly IHost host;
    private readonly Options options;

    internal Sape2ImageClassificationTrainer(IHostEnvironment env, Options options)
    {
        MLNetVersionGuard.Check();
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(options);
        host = env.Register(LoadName);
        this.options = options;
        Validate(options);
    }

    private static void Validate(Options o)
    {
        foreach (var (value, name) in new[] { (o.LabelColumnName, nameof(o.LabelColumnName)), (o.FeatureColumnName, nameof(o.FeatureColumnName)), (o.ScoreColumnName, nameof(o.ScoreColumnName)), (o.PredictedLabelColumnName, nameof(o.PredictedLabelColumnName)) })
            if (string.IsNullOrWhiteSpace(value)) throw new ArgumentOutOfRangeException(name, "Must name a column; got an empty name.");
        if (o.ImageSize <= 0) throw new ArgumentOutOfRangeException(nameof(o.ImageSize), $"Must be positive; got {o.ImageSize}.");
        if (o.ImageHeight < 0 || o.ImageWidth < 0) throw new ArgumentOutOfRangeException(nameof(o.ImageHeight), $"Must be 0 (use ImageSize) or positive; got {o.ImageHeight}×{o.ImageWidth}.");
        if (o.PatchSize <= 0 || Format(o).Height % o.PatchSize != 0 || Format(o).Width % o.PatchSize != 0)
            throw new ArgumentOutOfRangeException(nameof(o.PatchSize), $"Must divide the image size ({Format(o).Height}×{Format(o).Width}); got {o.PatchSize}.");
        if (o.Channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(o.Channels), $"Must be 1 (grayscale) or 3 (RGB); got {o.Channels}.");
        if (o.MaxPixels <= 0) throw new ArgumentOutOfRangeException(nameof(o.MaxPixels), $"Must be positive; got {o.MaxPixels}.");
        if (o.EarlyStoppingPatience > 0 && o.ValidationSet is null)
            throw new ArgumentOutOfRangeException(nameof(o.EarlyStoppingPatience), $"Early stopping (patience {o.EarlyStoppingPatience}) needs a ValidationSet.");
        Architecture(o, numClasses: 2).Validate();
        Training(o, seed: 0).Validate();
        o.Normalization?.Validate(o.Channels);
    }

    internal static ImageFormat Format(Options o) => new()
    {
        Height = o.ImageHeight > 0 ? o.ImageHeight : o.ImageSize,
        Width = o.ImageWidth > 0 ? o.ImageWidth : o.ImageSize,
        Channels = o.Channels, KeepAspectByCenterCrop = o.KeepAspectByCenterCrop, MaxPixels = o.MaxPixels,
    };

    private static VitConfig Architecture(Options o, int numClasses)
    {
        var format = Format(o);
        return VitConfig.FromPreset(o.Preset, format.Height, o.PatchSize, o.Channels, numClasses) with
        {
            ImageWidth = format.Width, PositionEncoding = o.PositionEncoding, AbsolutePosition = o.AbsolutePosition, Sape2Mode = o.Sape2Mode,
        };
    }

    private static TrainingOptions Training(Options o, int seed) => new()
    {
        Epochs = o.Epochs, BatchSize = o.BatchSize, LearningRate = o.LearningRate, WeightDecay = o.WeightDecay, WarmupEpochs = o.WarmupEpochs,
        LabelSmoothing = o.LabelSmoothing, Augmentation = o.Augmentation, EmaDecay = o.EmaDecay, GradientClipNorm = o.GradientClipNorm,
        EarlyStoppingPatience = o.EarlyStoppingPatience, Device = o.Device, Threads = o.Threads, Seed = seed, CheckpointDirectory = o.CheckpointDirectory,
        Normalization = o.Normalization,
    };

    /// <summary>Checks the input columns and describes the output columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ImageColumn.Check(inputSchema, options.FeatureColumnName);
        if (!inputSchema.TryFindColumn(options.LabelColumnName, out var label))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Could not find label column '{options.LabelColumnName}'.");
        if (label.Kind != SchemaShape.Column.VectorKind.Scalar || !label.IsKey)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Schema mismatch for label column '{options.LabelColumnName}': expected Key<UInt32>, got {label.ItemType}. Use MapValueToKey.");
        var columns = inputSchema.ToDictionary(c => c.Name);
        var scoreAnnotations = new SchemaShape(new[] { new SchemaShape.Column(AnnotationUtils.Kinds.SlotNames, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false) });
        columns[options.ScoreColumnName] = new SchemaShape.Column(options.ScoreColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false, scoreAnnotations);
        columns[options.PredictedLabelColumnName] = new SchemaShape.Column(options.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true, label.Annotations);
        return new SchemaShape(columns.Values);
    }

    /// <summary>Trains the model on <paramref name="input"/>.</summary>
    public Sape2ImageClassificationTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        GetOutputSchema(SchemaShape.Create(input.Schema));
        var labelColumn = input.Schema[options.LabelColumnName];
        var classNames = LabelKeys.ClassNames(labelColumn);
        var format = Format(options);
        using var ch = host.Start("Training");

        var train = DataViewImages.Read(input, options.FeatureColumnName, options.LabelColumnName, format, classNames, "training data");
        ImageDataset? validation = null;
        if (options.ValidationSet is { } validationSet)
        {
            GetOutputSchema(SchemaShape.Create(validationSet.Schema));
            validation = DataViewImages.Read(validationSet, options.FeatureColumnName, options.LabelColumnName, format, classNames, "validation set");
        }
        ch.Info($"SaPE² trainer: {train.Count} training images, {validation?.Count ?? 0} validation images, {classNames.Count} classes, {options.Preset} {options.PositionEncoding}.");

        int seed = options.Seed ?? host.Rand.Next();
        var progress = new ProgressRelay(ch, options.Progress, options.MetricsCallback);
        var result = VisionTransformerTrainer.Fit(train, validation, Architecture(options, classNames.Count), Training(options, seed), progress, options.CancellationToken);
        if (result.Cancelled) ch.Warning("Training was cancelled; the best model so far is returned.");
        ch.Info($"SaPE² trainer: done after {result.Classifier.History.Count} epoch(s); best epoch {result.BestEpoch}, validation accuracy {result.BestValidationAccuracy?.ToString("P2") ?? "n/a"}.");
        return new Sape2ImageClassificationTransformer(host, result.Classifier, options.FeatureColumnName, labelColumn, options.ScoreColumnName, options.PredictedLabelColumnName);
    }

    /// <summary>Sends progress to the ML.NET log, the user's IProgress and the per-epoch MetricsCallback.</summary>
    private sealed class ProgressRelay(IChannel channel, IProgress<TrainingProgress>? progress, Action<TrainingProgress>? metrics) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            progress?.Report(value);
            if (!value.EpochCompleted) return;
            channel.Info($"Epoch {value.Epoch}/{value.Epochs}: train loss {value.TrainLoss:F4}, train accuracy {value.TrainAccuracy:P2}, validation accuracy {(value.ValidationAccuracy is { } a ? a.ToString("P2") : "n/a")}, {value.ImagesPerSecond:F0} images/s.");
            metrics?.Invoke(value);
        }
    }
}
