using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Interop.Onnx;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2;

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
/// | Required NuGet in addition to Microsoft.ML | Microsoft.ML.SaPE2, Microsoft.ML.ImageAnalytics, libtorch-cpu-* or TorchSharp-cuda-* |
/// | Exportable to ONNX | No |
/// ]]></format>
/// </remarks>
public sealed partial class Sape2ImageClassificationTrainer : IEstimator<Sape2ImageClassificationTransformer>
{
    internal const string LoadName = nameof(Sape2ImageClassificationTrainer);
    private readonly IHost host;
    private readonly Options options;

    /// <summary>Decoded images shared by fits of the same data (an experiment's trials); null: this fit decodes its own.</summary>
    internal DecodedImageCache? DecodedImages { get; init; }

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
        foreach (var (value, name) in new[] { (o.LabelColumnName, nameof(o.LabelColumnName)),
            (o.FeatureColumnName, nameof(o.FeatureColumnName)), (o.ScoreColumnName, nameof(o.ScoreColumnName)),
                (o.PredictedLabelColumnName, nameof(o.PredictedLabelColumnName)) })
            if (string.IsNullOrWhiteSpace(value)) throw new ArgumentOutOfRangeException(name, "Must name a column; got an empty name.");
        if (o.ImageSize <= 0) throw new ArgumentOutOfRangeException(nameof(o.ImageSize),
            $"Must be positive, or null for automatic; got {o.ImageSize}.");
        if (o.ImageHeight < 0 || o.ImageWidth < 0) throw new ArgumentOutOfRangeException(nameof(o.ImageHeight),
            $"Must be 0 (use ImageSize) or positive; got {o.ImageHeight}×{o.ImageWidth}.");
        if (o.Channels is { } channels && channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(o.Channels),
            $"Must be 1 (grayscale) or 3 (RGB), or null for automatic; got {channels}.");
        if (o.Sape2BiasSign is not (1.0 or -1.0))
            throw new ArgumentOutOfRangeException(nameof(o.Sape2BiasSign), $"Must be +1 or -1; got {o.Sape2BiasSign}.");
        if (o.MaxPixels <= 0) throw new ArgumentOutOfRangeException(nameof(o.MaxPixels), $"Must be positive; got {o.MaxPixels}.");
        if (o.TrainingTimeInSeconds is { } seconds && !(seconds > 0 && double.IsFinite(seconds)))
            throw new ArgumentOutOfRangeException(nameof(o.TrainingTimeInSeconds),
                $"Must be a positive number of seconds, or null for no limit; got {seconds}.");
        if (o.ValidationSetFraction is { } fraction && !(fraction >= 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(nameof(o.ValidationSetFraction),
                $"Should be within [0, 1), or null for none; got {fraction}.");
        if (o.EarlyStoppingPatience > 0 && o.ValidationSet is null && !(o.ValidationSetFraction > 0))
            throw new ArgumentOutOfRangeException(nameof(o.EarlyStoppingPatience),
                $"Early stopping (patience {o.EarlyStoppingPatience}) needs a ValidationSet or a ValidationSetFraction above 0.");
        if (o.PretrainedWeights is { } weights)
        {
            if (o.InitialModel is not null) throw new ArgumentOutOfRangeException(nameof(o.PretrainedWeights),
                "Set PretrainedWeights (a timm ViT to fine-tune) or InitialModel (a model of ours to retrain), not both.");
            if (o.Tokenizer is { } tokenizer && tokenizer != TokenizerKind.Patch) throw new ArgumentOutOfRangeException(nameof(o.Tokenizer),
                $"A timm ViT (PretrainedWeights) embeds linear patches; Tokenizer must be Patch or null, got {tokenizer}.");
            if (!Interop.WeightsDownload.IsUrl(weights) && !File.Exists(weights))
                throw new FileNotFoundException($"PretrainedWeights '{weights}' does not exist: name a timm ViT safetensors file or an " +
                    "http(s) URL.", weights);
        }
        if (o.InitialModel is { } initialPath && !File.Exists(initialPath))
            throw new FileNotFoundException($"InitialModel '{initialPath}' does not exist: name a model.zip saved from a SaPE² pipeline.",
                initialPath);
        bool pretrained = o.Tokenizer == TokenizerKind.PretrainedBackbone;
        // What can be checked before the data is seen: the options as set, with placeholders for the automatic ones.
        var format = Format(o, provisional: pretrained ? (AutoRecipe.PretrainedImageSide, 3) : (32, 3));
        var recipe = AutoRecipe.Choose(1000, format.Height, format.Width, format.Channels, cuda: false, pretrained);
        var architecture = Architecture(o, format, recipe, numClasses: 2);
        architecture.Validate();
        CheckNormalization(o, architecture);
        Training(o, recipe, seed: 0, timeLimit: null).Validate();
        if (o.Channels is { } known) o.Normalization?.Validate(known);
    }

    /// <summary>The input format: the options, with <paramref name="provisional"/> size and channels where they are automatic.</summary>
    /// <param name="o">The options.</param>
    /// <param name="provisional">Size and channels where the options leave them automatic.</param>
    /// <param name="pretrained">Whether the images go to a pretrained network: then they are centre-cropped unless the options say otherwise.</param>
    internal static ImageFormat Format(Options o, (int Size, int Channels) provisional, bool pretrained = false) => new()
    {
        Height = o.ImageHeight > 0 ? o.ImageHeight : o.ImageSize ?? provisional.Size,
        Width = o.ImageWidth > 0 ? o.ImageWidth : o.ImageSize ?? provisional.Size,
        Channels = o.Channels ?? provisional.Channels, KeepAspectByCenterCrop = o.KeepAspectByCenterCrop ?? pretrained, MaxPixels = o.MaxPixels,
    };

    /// <summary>Refuses a <see cref="Options.Normalization"/> set for a model on the pretrained backbone, which takes pixel values.</summary>
    private static void CheckNormalization(Options o, VitConfig architecture)
    {
        if (architecture.Backbone is not null && o.Normalization is not null)
            throw new ArgumentOutOfRangeException(nameof(o.Normalization), "The pretrained backbone takes pixel values in [0, 255] as " +
                "ImageNet trained it; leave Normalization null with it (or set Tokenizer to train from scratch).");
    }

    internal static VitConfig Architecture(Options o, ImageFormat format, AutoRecipe.Recipe recipe, int numClasses)
    {
        var preset = VitConfig.FromPreset(o.Preset ?? recipe.Preset, format.Height, o.PatchSize ?? recipe.PatchSize, format.Channels, numClasses);
        var tokenizer = o.Tokenizer ?? recipe.Tokenizer;
        return preset with
        {
            Backbone = tokenizer == TokenizerKind.PretrainedBackbone ? BackboneFiles.ImageNetResNet18Graph(o.BackboneFolder, preset.PatchSize) : null,
            ImageWidth = format.Width, PositionEncoding = o.PositionEncoding, AbsolutePosition = o.AbsolutePosition, Sape2Mode = o.Sape2Mode,
            Sape2BiasSign = o.Sape2BiasSign, Tokenizer = tokenizer, Pooling = o.Pooling ?? recipe.Pooling,
            Initialization = o.Initialization ?? recipe.Initialization, DropPathRate = o.DropPathRate ?? preset.DropPathRate,
        };
    }

    internal static TrainingOptions Training(Options o, AutoRecipe.Recipe recipe, int seed, TimeSpan? timeLimit)
    {
        string? resumeFrom = Checkpoint.Resolve(o.ResumeFrom);
        return new()
        {
        Epochs = o.Epochs ?? recipe.Epochs, BatchSize = o.BatchSize ?? recipe.BatchSize, LearningRate = o.LearningRate ?? recipe.LearningRate,
        WeightDecay = o.WeightDecay, WarmupEpochs = o.WarmupEpochs ?? recipe.WarmupEpochs, LabelSmoothing = o.LabelSmoothing ?? recipe.LabelSmoothing,
        Augmentation = o.Augmentation ?? recipe.Augmentation, EmaDecay = o.EmaDecay, GradientClipNorm = o.GradientClipNorm,
        EarlyStoppingPatience = o.EarlyStoppingPatience, Device = o.Device, Precision = o.Precision, Threads = o.Threads, Seed = seed,
        ResumeFrom = resumeFrom, CheckpointDirectory = o.CheckpointDirectory ?? Path.GetDirectoryName(resumeFrom),
        Normalization = o.Normalization ?? recipe.Normalization, TimeLimit = timeLimit,
        BackboneLearningRateScale = o.BackboneLearningRateScale ?? 0, FeatureViews = recipe.FeatureViews, LayerDecay = o.LayerDecay,
        };
    }

    /// <summary>Whether the user set the option a <see cref="RecipeChoice"/> would fill.</summary>
    internal static bool IsSet(Options o, RecipeOption option) => option switch
    {
        RecipeOption.ImageSize => o.ImageSize.HasValue || (o.ImageHeight > 0 && o.ImageWidth > 0),
        RecipeOption.Channels => o.Channels.HasValue,
        RecipeOption.Tokenizer => o.Tokenizer.HasValue,
        RecipeOption.PatchSize => o.PatchSize.HasValue,
        RecipeOption.Pooling => o.Pooling.HasValue,
        RecipeOption.Initialization => o.Initialization.HasValue,
        RecipeOption.Preset => o.Preset.HasValue,
        RecipeOption.Epochs => o.Epochs.HasValue,
        RecipeOption.BatchSize => o.BatchSize.HasValue,
        RecipeOption.LearningRate => o.LearningRate.HasValue,
        RecipeOption.WarmupEpochs => o.WarmupEpochs.HasValue,
        RecipeOption.LabelSmoothing => o.LabelSmoothing.HasValue,
        RecipeOption.Augmentation => o.Augmentation is not null,
        RecipeOption.BackboneLearningRateScale => o.BackboneLearningRateScale.HasValue,
        RecipeOption.KeepAspectByCenterCrop => o.KeepAspectByCenterCrop.HasValue,
        RecipeOption.RefitOnAllRows => o.RefitOnAllRows.HasValue,
        _ => throw new ArgumentOutOfRangeException(nameof(option), $"No option {option}."),
    };

    /// <summary>The input columns' check of <see cref="GetOutputSchema"/> on a data view's schema.</summary>
    internal void CheckInputSchema(DataViewSchema schema) => GetOutputSchema(MLNetInternals.ShapeOf(schema));

    /// <summary>Checks the input columns and describes the output columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ImageColumn.Check(inputSchema, options.FeatureColumnName);
        if (MLNetInternals.FindColumn(inputSchema, options.LabelColumnName) is not { } label)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Could not find label column '{options.LabelColumnName}'.");
        if (label.Kind != SchemaShape.Column.VectorKind.Scalar || !label.IsKey || label.ItemType != NumberDataViewType.UInt32)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Schema mismatch for label column '{options.LabelColumnName}': " +
                $"expected Key<UInt32>, got {(label.IsKey ? "Key<" + label.ItemType + ">" : label.ItemType)}. Use MapValueToKey.");
        // The annotations ML.NET's multiclass trainers declare (SdcaMaximumEntropy, LightGbm), so tools that read them work.
        var columns = inputSchema.ToDictionary(c => c.Name);
        columns[options.ScoreColumnName] = MLNetInternals.MulticlassScoreColumn(options.ScoreColumnName, label);
        columns[options.PredictedLabelColumnName] = MLNetInternals.PredictedLabelColumn(options.PredictedLabelColumnName, label);
        return new SchemaShape(columns.Values);
    }

    /// <summary>
    /// Trains the model on <paramref name="input"/>, scoring <see cref="Options.ValidationSet"/> after every epoch, or
    /// a stratified <see cref="Options.ValidationSetFraction"/> of <paramref name="input"/> held back when there is none.
    /// </summary>
    public Sape2ImageClassificationTransformer Fit(IDataView input) => Fit(input, options.ValidationSet);

    /// <summary>
    /// Trains on <paramref name="trainData"/> and scores <paramref name="validationData"/> after every epoch to keep the
    /// best weights and stop early, as ML.NET's FastTree and LightGbm trainers' <c>Fit(trainData, validationData)</c>;
    /// it takes the place of <see cref="Options.ValidationSet"/>. Null: as <see cref="Fit(IDataView)"/>.
    /// </summary>
    public Sape2ImageClassificationTransformer Fit(IDataView trainData, IDataView? validationData)
    {
        var input = trainData ?? throw new ArgumentNullException(nameof(trainData));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        GetOutputSchema(MLNetInternals.ShapeOf(input.Schema));
        var labelColumn = input.Schema[options.LabelColumnName];
        var classNames = LabelKeys.ClassNames(labelColumn);
        using var ch = host.Start("Training");
        using var initial = InitialModel.Load(options.InitialModel);
        using var checkpoint = PretrainedVit(message => ch.Log($"SaPE² trainer: {message}."));
        var (device, deviceReason, format, recipe, choices, holdBack, architecture, training) =
            CheckBeforeDecoding(input, validationData, initial, checkpoint);
        if (checkpoint is not null)
            training = training with { Initialize = model => ch.Log($"SaPE² trainer: {checkpoint.GraftOnto(model)}.") };
        bool cuda = device.type == TorchSharp.DeviceType.CUDA;

        int seed = options.Seed ?? host.Rand.Next();
        ImageDataset Read(IDataView data, string what) => DecodedImages is { } cache
            ? cache.Read(data, options.FeatureColumnName, options.LabelColumnName, format, classNames, what)
            : DataViewImages.Read(data, options.FeatureColumnName, options.LabelColumnName, format, classNames, what);
        var train = Read(input, InvalidImageException.TrainingData);
        var validation = validationData is null ? null : Read(validationData, InvalidImageException.ValidationData);
        var allRows = train;
        if (validation is null && holdBack > 0) (train, validation) = HoldBack(train, holdBack, seed, ch);
        ch.Log($"SaPE² trainer: {train.Count} training images, {validation?.Count ?? 0} validation images, {classNames.Count} classes, " +
            $"{format.Channels}×{format.Height}×{format.Width} input, {(cuda ? "CUDA" : "CPU")}.");
        ch.Log($"SaPE² trainer: Device = {device} ({deviceReason}).");
        if (initial is not null)
            ch.Log($"SaPE² trainer: starting from InitialModel '{options.InitialModel}': its architecture, input size and weights; " +
                $"{InitialWeights.KnownClasses(initial.Classifier, classNames)} of the {classNames.Count} classes keep their trained head rows.");
        if (options.Precision == TrainingPrecision.BFloat16 && !cuda)
            ch.Warn("SaPE² trainer: Precision = BFloat16 on the CPU works, but a CPU without bf16 instructions emulates it: measured " +
                "4–6 times slower than Float32 (Docs/benchmarks.md). It is meant for CUDA.");
        foreach (var choice in choices.Where(c => !IsSet(options, c.Option)))
            ch.Log($"SaPE² trainer: {choice.Option} = {choice.Value} (automatic: {choice.Rule}).");
        ch.Log($"SaPE² trainer: model {architecture.PositionEncoding}{(architecture.AbsolutePosition ? "+APE" : "")}, " +
            $"{architecture.Tokenizer} tokenizer, {architecture.GridHeight}×{architecture.GridWidth} tokens, dim {architecture.EmbedDim}, " +
                $"depth {architecture.Depth}, heads {architecture.NumHeads}, {architecture.Pooling}.");

        TimeSpan? timeLimit = null;
        if (options.TrainingTimeInSeconds is { } seconds)
        {
            timeLimit = TimeSpan.FromSeconds(Math.Max(seconds - clock.Elapsed.TotalSeconds, 0.001));   // decoding counts against the budget
            if (clock.Elapsed.TotalSeconds >= seconds)
                ch.Warn($"Reading the images took {clock.Elapsed.TotalSeconds:F1} s of the {seconds} s TrainingTimeInSeconds; training " +
                    $"takes one step.");
        }
        var progress = new ProgressRelay(ch, options.Progress, options.MetricsCallback);
        using var backboneWeights = BackboneFiles.Weights(architecture.Backbone, options.BackboneFolder);
        if (architecture.Backbone is { } backbone)
            ch.Log($"SaPE² trainer: backbone {backbone.Source}, {(training.BackboneLearningRateScale == 0 ? "frozen (features computed once, " +
                $"{training.FeatureViews} view(s) of each training image)"
                : $"fine-tuned at {training.BackboneLearningRateScale} of the learning rate")}.");
        training = training with { Seed = seed, TimeLimit = timeLimit, BackboneWeights = backboneWeights?.Tensors };
        var firstRun = System.Diagnostics.Stopwatch.StartNew();
        var result = VisionTransformerTrainer.Fit(train, validation, architecture, training, progress, options.CancellationToken,
            beforeEachStep: () => MLNetInternals.ThrowIfCancelled(host));   // MLContext.CancelExecution aborts, as in ML.NET's own trainers
        if (result.Cancelled)
            ch.Warn($"SaPE² trainer: training was cancelled after {result.Classifier.History.Count} epoch(s); the model is the best " +
                $"so far (epoch {result.BestEpoch}), and its TrainingCancelled property says so.");
        if (result.ShortenedByTimeLimit)
            ch.Log($"SaPE² trainer: TrainingTimeInSeconds = {options.TrainingTimeInSeconds} s shortened the run to " +
                $"{result.Classifier.History.Count} of {options.Epochs ?? recipe.Epochs} epoch(s).");
        ch.Log($"SaPE² trainer: done after {result.Classifier.History.Count} epoch(s) in {clock.Elapsed.TotalSeconds:F1} s; best epoch " +
            $"{result.BestEpoch}, validation accuracy {result.BestValidationAccuracy?.ToString("P2") ?? "n/a"}.");
        if (!ReferenceEquals(allRows, train) && (options.RefitOnAllRows ?? recipe.RefitOnAllRows))
            result = RefitOnAllRows(allRows, train.Count, result, architecture, training, firstRun.Elapsed, clock.Elapsed, progress, ch);
        return new Sape2ImageClassificationTransformer(host, result.Classifier, options.FeatureColumnName, labelColumn,
            options.ScoreColumnName, options.PredictedLabelColumnName) { TrainingCancelled = result.Cancelled };
    }

    /// <summary>
    /// What a fit of <paramref name="input"/> will use before any image is decoded: the input format (surveyed where it is
    /// automatic), the recipe for the images that train, the automatic choices for the log, and the row counts.
    /// </summary>
    private (ImageFormat Format, AutoRecipe.Recipe Recipe, List<RecipeChoice> Choices, long TrainRows, long ValidationRows, double HoldBack)
        Plan(IDataView input, IDataView? validationData, bool cuda, ImageClassifier? initial, Interop.TimmCheckpoint? checkpoint)
    {
        var choices = new List<RecipeChoice>();
        if (checkpoint is not null)
        {
            int side = options.ImageSize ?? checkpoint.Architecture.ImageHeight;
            var fineTuneFormat = Format(options, provisional: (side, 3), pretrained: true) with { Channels = 3 };
            var (rows, validationCount, fraction, learning) = RowCounts(input, validationData);
            var fineTune = AutoRecipe.ChooseFineTune(learning, checkpoint.Architecture.PatchSize, cuda);
            choices.Add(new RecipeChoice(RecipeOption.ImageSize, $"{side}", "the side the pretrained ViT was trained at"));
            choices.AddRange(fineTune.Choices);
            return (fineTuneFormat, fineTune, choices, rows, validationCount, fraction);
        }
        bool pretrained = initial?.Config.Backbone is not null || options.Tokenizer == TokenizerKind.PretrainedBackbone;
        var format = initial?.Format ?? Format(options, provisional: pretrained ? (AutoRecipe.PretrainedImageSide, 3) : (32, 3), pretrained);
        if (initial is null && (!IsSet(options, RecipeOption.ImageSize) || !IsSet(options, RecipeOption.Channels) || options.Tokenizer is null))
        {
            var survey = DecodedImages?.Survey(input, options.FeatureColumnName, InvalidImageException.TrainingData)
                ?? DataViewImages.Survey(input, options.FeatureColumnName, InvalidImageException.TrainingData);
            bool backbone = options.Tokenizer is null or TokenizerKind.PretrainedBackbone && BackboneFiles.Available(options.BackboneFolder);
            var (size, channels, formatChoices) = AutoRecipe.ChooseFormat(survey, cuda, backbone,
                backboneChosen: options.Tokenizer == TokenizerKind.PretrainedBackbone);
            pretrained |= options.Tokenizer is null && backbone && AutoRecipe.ArePhotos(survey);
            if (options.Tokenizer is null && !backbone && AutoRecipe.ArePhotos(survey))
                choices.Add(new RecipeChoice(RecipeOption.Tokenizer, $"{TokenizerKind.Convolutional}", $"these look like photos, but the ImageNet " +
                    $"backbone's files are not in '{BackboneFiles.Folder(options.BackboneFolder)}' (package {ImageNetResNet18.Package}): " +
                    "from scratch"));
            format = Format(options, provisional: (size, channels), pretrained);
            choices.AddRange(formatChoices);
        }
        options.Normalization?.Validate(format.Channels);
        var (trainRows, validationRows, holdBack, learningRows) = RowCounts(input, validationData);
        var recipe = AutoRecipe.Choose(learningRows, format.Height, format.Width, format.Channels, cuda, pretrained);
        choices.AddRange(recipe.Choices);
        return (format, recipe, choices, trainRows, validationRows, holdBack);
    }

    /// <summary>Rows of the training and validation data, the fraction of the training rows held back for validation, and the rows
    /// left to learn from (what the recipe is sized for).</summary>
    private (long TrainRows, long ValidationRows, double HoldBack, int LearningRows) RowCounts(IDataView input, IDataView? validationData)
    {
        if (validationData is not null) GetOutputSchema(MLNetInternals.ShapeOf(validationData.Schema));
        long trainRows = DataViewImages.CountRows(input);
        double holdBack = validationData is null ? options.ValidationSetFraction ?? 0 : 0;
        return (trainRows, validationData is null ? 0 : DataViewImages.CountRows(validationData), holdBack,
            (int)Math.Min(trainRows - (long)Math.Round(trainRows * holdBack), int.MaxValue));
    }

    /// <summary>The timm checkpoint of <see cref="Options.PretrainedWeights"/> (downloaded first when it is a URL); null without one.</summary>
    private Interop.TimmCheckpoint? PretrainedVit(Action<string> log) => options.PretrainedWeights is { } source
        ? Interop.TimmCheckpoint.Read(Interop.WeightsDownload.Resolve(source, options.PretrainedWeightsSha256, cacheFolder: null, log,
            options.CancellationToken))
        : null;

    /// <summary>The checkpoint's ViT with the user's classes, image size and position encoding (SaPE² behind its gate at 0).</summary>
    internal static VitConfig FineTuneArchitecture(Options o, VitConfig pretrained, ImageFormat format, int numClasses)
    {
        if (o.PatchSize is { } patch && patch != pretrained.PatchSize)
            throw new ArgumentOutOfRangeException(nameof(o.PatchSize), $"PretrainedWeights '{o.PretrainedWeights}' is a patch-" +
                $"{pretrained.PatchSize} ViT; PatchSize {patch} cannot use it. Leave PatchSize unset.");
        if (o.Preset is { } preset && VitConfig.FromPreset(preset).EmbedDim != pretrained.EmbedDim)
            throw new ArgumentOutOfRangeException(nameof(o.Preset), $"PretrainedWeights '{o.PretrainedWeights}' is {pretrained.EmbedDim} wide; " +
                $"Preset {preset} is {VitConfig.FromPreset(preset).EmbedDim}. Leave Preset unset.");
        if (format.Height % pretrained.PatchSize != 0 || format.Width % pretrained.PatchSize != 0)
            throw new ArgumentOutOfRangeException(nameof(o.ImageSize), $"PretrainedWeights '{o.PretrainedWeights}' has " +
                $"{pretrained.PatchSize}-pixel patches; the image size {format.Height}×{format.Width} must be a multiple of it.");
        return pretrained with
        {
            ImageHeight = format.Height, ImageWidth = format.Width, NumClasses = numClasses, PositionEncoding = o.PositionEncoding,
            AbsolutePosition = o.AbsolutePosition, Sape2Mode = o.Sape2Mode, Sape2BiasSign = o.Sape2BiasSign,
            Sape2BiasGate = o.PositionEncoding == PositionEncodingKind.Sape2, DropPathRate = o.DropPathRate ?? 0.1,
        };
    }

    /// <summary>
    /// The epochs <see cref="Fit(IDataView, IDataView?)"/> would plan — <see cref="Options.Epochs"/>, or the automatic number for the data (an
    /// experiment plans every trial's schedule and rungs with it) — and the model's architecture. Makes every check a fit makes before it
    /// decodes an image, so an experiment refuses options no trial could train with before its first trial.
    /// </summary>
    internal FitPlan PlannedFit(IDataView trainData, IDataView? validationData)
    {
        GetOutputSchema(MLNetInternals.ShapeOf(trainData.Schema));
        using var initial = InitialModel.Load(options.InitialModel);
        using var checkpoint = PretrainedVit(_ => { });
        return CheckBeforeDecoding(trainData, validationData, initial, checkpoint);
    }

    /// <summary>
    /// What a fit decides and checks before any image is decoded: the device, the input format and recipe, the model (its sizes
    /// validated) and the training options (seed and time limit set later), and that the model and the images fit in memory. A
    /// one-class label is refused after reading, by the engine.
    /// </summary>
    private FitPlan CheckBeforeDecoding(IDataView input, IDataView? validationData, InitialModel? initial, Interop.TimmCheckpoint? checkpoint)
    {
        var classNames = LabelKeys.ClassNames(input.Schema[options.LabelColumnName]);
        var (deviceText, deviceReason) = DeviceChoice.Resolve(options.Device, host);
        var device = TrainingDevice.Resolve(deviceText);
        bool cuda = device.type == TorchSharp.DeviceType.CUDA;
        var (format, recipe, choices, trainRows, validationRows, holdBack) = Plan(input, validationData, cuda, initial?.Classifier, checkpoint);
        var architecture = initial is not null ? initial.Classifier.Config with { NumClasses = classNames.Count }
            : checkpoint is not null ? FineTuneArchitecture(options, checkpoint.Architecture, format, classNames.Count)
            : Architecture(options, format, recipe, classNames.Count);
        CheckNormalization(options, architecture);
        var sized = architecture with { NumClasses = Math.Max(2, architecture.NumClasses) };
        sized.Validate();
        var training = Training(options, recipe, seed: 0, timeLimit: null) with { Device = deviceText };
        if (initial is not null)
            training = training with { InitialModel = initial.Classifier, Normalization = initial.Classifier.Normalization };
        MemoryEstimate.EnsureFits(sized, training.BatchSize, trainRows + validationRows, training.EmaDecay > 0, device,
            training.BackboneLearningRateScale > 0, training.FeatureViews);
        return new FitPlan(device, deviceReason, format, recipe, choices, holdBack, architecture, training);
    }

    /// <summary>
    /// A stratified <paramref name="fraction"/> of <paramref name="data"/> set aside for validation, as ML.NET's
    /// ImageClassification trainer does with its ValidationSetFraction; classes with one image stay whole.
    /// </summary>
    private static (ImageDataset Train, ImageDataset? Validation) HoldBack(ImageDataset data, double fraction, int seed, IChannel ch)
    {
        var (train, validation) = data.SplitStratified(fraction, seed);
        if (validation.Count == 0)
        {
            ch.Log($"SaPE² trainer: ValidationSetFraction = {fraction}: too few images per class to hold any back; training without " +
                "validation.");
            return (data, null);
        }
        ch.Log($"SaPE² trainer: ValidationSetFraction = {fraction}: {validation.Count} of the {data.Count} training images held back " +
            "(stratified) to pick the best epoch, as no validation set was given.");
        return (train, validation);
    }

    /// <summary>Sends progress to the ML.NET log, the user's IProgress and the per-epoch MetricsCallback.</summary>
    private sealed class ProgressRelay(IChannel channel, IProgress<TrainingProgress>? progress,
        Action<TrainingProgress>? metrics) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            progress?.Report(value);
            if (!value.EpochCompleted) return;
            channel.Log($"Epoch {value.Epoch}/{value.Epochs}: train loss {value.TrainLoss:F4}, train accuracy {value.TrainAccuracy:P2}, " +
                $"validation accuracy {(value.ValidationAccuracy is { } a ? a.ToString("P2") : "n/a")}, {value.ImagesPerSecond:F0} images/s.");
            metrics?.Invoke(value);
        }
    }
}
