using Microsoft.ML.SaPE2;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// A trained SaPE² image classifier in an ML.NET pipeline: adds <c>Score</c> (one probability per class) and
/// <c>PredictedLabel</c> (the label's key type). <see cref="ITransformer.Transform"/> scores rows in batches; a
/// prediction engine scores one row at a time with the same network. Saved models load in a fresh process with a
/// fresh <see cref="MLContext"/>. Owns the TorchSharp module: <see cref="Dispose"/> frees it.
/// </summary>
public sealed partial class Sape2ImageClassificationTransformer : RowToRowTransformerBase, ITransformer, IDisposable
{
    internal const string LoaderSignature = "Sape2ImageClassifier";
    internal const string UserName = "SaPE² Image Classification";
    private const string WeightsEntry = "SaPE2Weights";
    private readonly DataViewSchema.DetachedColumn label;
    private bool disposed;

    internal Sape2ImageClassificationTransformer(IHostEnvironment env, ImageClassifier classifier, string featureColumnName,
                                                 DataViewSchema.DetachedColumn label, string scoreColumnName, string predictedLabelColumnName)
        : base(env.Register(nameof(Sape2ImageClassificationTransformer)))
    {
        Classifier = classifier;
        FeatureColumnName = featureColumnName;
        this.label = label;
        ScoreColumnName = scoreColumnName;
        PredictedLabelColumnName = predictedLabelColumnName;
    }

    internal Sape2ImageClassificationTransformer(IHostEnvironment env, ImageClassifier classifier, string featureColumnName,
                                                 DataViewSchema.Column label, string scoreColumnName, string predictedLabelColumnName)
        : this(env, classifier, featureColumnName, new DataViewSchema.DetachedColumn(label), scoreColumnName, predictedLabelColumnName) { }

    /// <summary>The same columns and training record around <paramref name="classifier"/> (which the new transformer owns).</summary>
    internal Sape2ImageClassificationTransformer WithClassifier(ImageClassifier classifier) =>
        new(Host, classifier, FeatureColumnName, label, ScoreColumnName, PredictedLabelColumnName) { TrainingCancelled = TrainingCancelled };

    /// <summary>The trained network with its input format, normalisation, class names and training history.</summary>
    public ImageClassifier Classifier { get; }
    /// <summary>Class names in score-slot order (the label's key values as text).</summary>
    public IReadOnlyList<string> ClassNames => Classifier.ClassNames;
    /// <summary>The architecture, position encoding included.</summary>
    public VitConfig Architecture => Classifier.Config;
    /// <summary>Per-epoch training and validation figures.</summary>
    public IReadOnlyList<EpochMetrics> TrainingHistory => Classifier.History;
    /// <summary>
    /// True when the training run was cancelled (<c>Options.CancellationToken</c>) after at least one epoch: the model is
    /// the best of the epochs that ended before the cancellation, not of the run that was planned. Saved in model.zip.
    /// </summary>
    public bool TrainingCancelled { get; internal init; }
    /// <summary>The input image column.</summary>
    public string FeatureColumnName { get; }
    /// <summary>The label column the model was trained on (its key type is the predicted label's).</summary>
    public string LabelColumnName => label.Name;
    /// <summary>The output score column.</summary>
    public string ScoreColumnName { get; }
    /// <summary>The output predicted-label column.</summary>
    public string PredictedLabelColumnName { get; }

    /// <summary>The one SaPE² classifier in <paramref name="model"/> (itself, or a chain holding it); throws when there is none or
    /// more than one.</summary>
    internal static Sape2ImageClassificationTransformer FindIn(ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var found = (model as IEnumerable<ITransformer> ?? [model]).OfType<Sape2ImageClassificationTransformer>().SingleOrDefault()
            ?? throw new ArgumentException("The model holds no SaPE² image classifier (or more than one).", nameof(model));
        ObjectDisposedException.ThrowIf(found.disposed, found);   // its module's native memory is gone
        return found;
    }

    /// <summary>The row-by-row mapper (prediction engines, GetRowToRowMapper).</summary>
    protected override IRowMapper MakeRowMapper(DataViewSchema schema) => new Mapper(this, schema, source: null);

    /// <summary>Adds the score and predicted-label columns to <paramref name="input"/>, scoring its rows in batches.</summary>
    IDataView ITransformer.Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return MLNetInternals.MapRows(Host, input, new Mapper(this, input.Schema, source: input), MakeRowMapper);
    }

    /// <inheritdoc cref="ITransformer.Transform"/>
    public new IDataView Transform(IDataView input) => ((ITransformer)this).Transform(input);

    /// <summary>Frees the TorchSharp module's native memory.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Classifier.Dispose();
    }

    private static VersionInfo GetVersionInfo() =>
        MLNetInternals.Version("SAPE2IMG", 0x00010001, LoaderSignature, typeof(Sape2ImageClassificationTransformer));   // 1.1: initial format

    /// <summary>What the model entry records besides the weights.</summary>
    private sealed record SavedMetadata(CheckpointMetadata Model, string WeightsSha256)
    {
        /// <summary>Absent (false) in files written before it was recorded.</summary>
        public bool TrainingCancelled { get; init; }

        /// <summary>SHA-256 of everything else that changes scores: the column names, the class count, the architecture, input format,
        /// normalisation, class names and the weights' checksum (<see cref="Integrity"/>). Absent (null) in files written before it was
        /// recorded, which are checked by their weights alone.</summary>
        public string? ModelSha256 { get; init; }

        public string Integrity(string feature, string label, string score, string predicted, int classes) =>
            Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", feature, label, score, predicted,
                classes.ToString(System.Globalization.CultureInfo.InvariantCulture), JsonSerializer.Serialize(Model), WeightsSha256,
                TrainingCancelled ? "cancelled" : "complete"))));
    }

    // *** Binary format ***
    // VersionInfo (signature SAPE2IMG)
    // string: feature column name
    // string: label column name
    // string: score column name
    // string: predicted label column name
    // int: number of classes
    // bool: whether key values follow
    // (type, value): the label's key values (BinarySaver), when present
    // string: metadata JSON (architecture, input format, normalisation, class names, history, SHA-256 of the weights)
    // binary stream "SaPE2Weights": TorchSharp module weights, raw
    /// <summary>Writes the model entry; the format is described above.</summary>
    protected override void SaveModel(ModelSaveContext ctx)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var writer = MLNetInternals.BeginEntry(ctx, GetVersionInfo());
        foreach (string column in new[] { FeatureColumnName, label.Name, ScoreColumnName, PredictedLabelColumnName })
            MLNetInternals.SaveString(ctx, column);
        writer.Write(ClassNames.Count);
        LabelKeyValues.Save(Host, ctx, label);
        var weights = ModelWeights.Save(Classifier.Model);
        var saved = new SavedMetadata(Classifier.Metadata(), Convert.ToHexString(SHA256.HashData(weights))) { TrainingCancelled = TrainingCancelled };
        saved = saved with
        {
            ModelSha256 = saved.Integrity(FeatureColumnName, label.Name, ScoreColumnName, PredictedLabelColumnName, ClassNames.Count),
        };
        writer.Write(JsonSerializer.Serialize(saved));
        MLNetInternals.SaveStream(ctx, WeightsEntry, stream => stream.Write(weights));
    }

    // Factory method for SignatureLoadRowMapper.
    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    // Factory method for SignatureLoadModel. Binary format: see SaveModel.
    private static Sape2ImageClassificationTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        MLNetVersionGuard.Check();
        ArgumentNullException.ThrowIfNull(env);
        var reader = MLNetInternals.OpenEntry(ctx, GetVersionInfo());
        string feature = MLNetInternals.LoadString(ctx);
        string labelName = MLNetInternals.LoadString(ctx);
        string score = MLNetInternals.LoadString(ctx);
        string predicted = MLNetInternals.LoadString(ctx);
        int classes = reader.ReadInt32();
        if (classes < 2) throw new InvalidOperationException($"The saved SaPE² model is corrupt: it claims {classes} classes.");
        var labelColumn = LabelKeyValues.Load(env, ctx, labelName, classes);
        SavedMetadata saved;
        try
        {
            saved = JsonSerializer.Deserialize<SavedMetadata>(reader.ReadString()) ?? throw new JsonException("empty metadata");
            if (saved.Model is null || saved.WeightsSha256 is null) throw new JsonException("the model or its weights' checksum is missing");
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"The saved SaPE² model's metadata is corrupt: {e.Message}", e);
        }
        byte[] weights = Array.Empty<byte>();
        if (!MLNetInternals.TryLoadStream(ctx, WeightsEntry, stream => weights = stream.ReadBytes((int)stream.BaseStream.Length)))
            throw new InvalidOperationException($"The saved SaPE² model has no '{WeightsEntry}' entry; the file is truncated or not a " +
                "SaPE² model.");
        if (!Convert.ToHexString(SHA256.HashData(weights)).Equals(saved.WeightsSha256, StringComparison.Ordinal))
            throw new InvalidOperationException($"The saved SaPE² model's '{WeightsEntry}' entry does not match its checksum: the file was " +
                $"truncated or edited. Save the model again.");
        if (saved.ModelSha256 is { } recorded && !recorded.Equals(saved.Integrity(feature, labelName, score, predicted, classes),
                StringComparison.Ordinal))
            throw new InvalidOperationException("The saved SaPE² model's settings (columns, architecture, classes or normalisation) do not " +
                "match its checksum: the file was edited or damaged, and would score differently from the model that was saved. Save the " +
                "model again.");
        var m = saved.Model;
        if (m.ClassNames.Count != classes || m.Config.NumClasses != classes)
            throw new InvalidOperationException($"The saved SaPE² model is inconsistent: {classes} classes in the header, {m.ClassNames.Count} " +
                $"names and {m.Config.NumClasses} outputs in the metadata.");
        var classifier = ImageClassifier.Load(m, weights, $"the model's '{WeightsEntry}' entry");
        return new Sape2ImageClassificationTransformer(env, classifier, feature, labelColumn, score, predicted)
        {
            TrainingCancelled = saved.TrainingCancelled,
        };
    }
}
