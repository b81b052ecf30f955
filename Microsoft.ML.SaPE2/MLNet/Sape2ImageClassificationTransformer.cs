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
    private readonly ImageClassifier[] members;
    private readonly float[] memberWeights;
    private bool disposed;

    internal Sape2ImageClassificationTransformer(IHostEnvironment env, ImageClassifier classifier, string featureColumnName,
                                                 DataViewSchema.DetachedColumn label, string scoreColumnName, string predictedLabelColumnName)
        : this(env, [classifier], [1f], featureColumnName, label, scoreColumnName, predictedLabelColumnName) { }

    private Sape2ImageClassificationTransformer(IHostEnvironment env, IReadOnlyList<ImageClassifier> networks, IReadOnlyList<float> weights,
        string featureColumnName, DataViewSchema.DetachedColumn label, string scoreColumnName, string predictedLabelColumnName)
        : base(env.Register(nameof(Sape2ImageClassificationTransformer)))
    {
        memberWeights = CheckedWeights(networks, weights);
        members = networks.ToArray();
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

    /// <summary>The trained network with its input format, normalisation, class names and training history (of an ensemble, the first
    /// of <see cref="EnsembleMembers"/>).</summary>
    public ImageClassifier Classifier => members[0];
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
        foreach (var member in members) member.Dispose();
    }

    // 1.1: initial format; 1.2: ensembles (a single network is still written as 1.1, which earlier versions read).
    private const uint SingleNetworkFormat = 0x00010001, EnsembleFormat = 0x00010002;

    private static VersionInfo GetVersionInfo(uint written = EnsembleFormat) => MLNetInternals.Version("SAPE2IMG", written, readable: written,
        readsBackTo: SingleNetworkFormat, LoaderSignature, typeof(Sape2ImageClassificationTransformer));

    /// <summary>An ensemble member after the first, in the metadata: its network's metadata, weights' checksum and weight.</summary>
    private sealed record SavedMember(CheckpointMetadata Model, string WeightsSha256, float Weight);

    /// <summary>What the model entry records besides the weights.</summary>
    private sealed record SavedMetadata(CheckpointMetadata Model, string WeightsSha256)
    {
        /// <summary>Absent (false) in files written before it was recorded.</summary>
        public bool TrainingCancelled { get; init; }

        /// <summary>SHA-256 of everything else that changes scores: the column names, the class count, the architecture, input format,
        /// normalisation, class names and the weights' checksum (<see cref="Integrity"/>). Absent (null) in files written before it was
        /// recorded, which are checked by their weights alone.</summary>
        public string? ModelSha256 { get; init; }

        /// <summary>An ensemble's first weight and its other members (null for a single network, and in files before 1.2).</summary>
        public float? Weight { get; init; }
        public IReadOnlyList<SavedMember>? OtherMembers { get; init; }

        public string Integrity(string feature, string label, string score, string predicted, int classes) =>
            Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", feature, label, score, predicted,
                classes.ToString(System.Globalization.CultureInfo.InvariantCulture), JsonSerializer.Serialize(Model), WeightsSha256,
                TrainingCancelled ? "cancelled" : "complete")
                + (OtherMembers is null ? "" : $"\n{Weight}\n{JsonSerializer.Serialize(OtherMembers)}"))));
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
    // string: metadata JSON (architecture, input format, normalisation, class names, history, SHA-256 of the weights; from 1.2 an
    //         ensemble's weights and its other members' metadata)
    // binary stream "SaPE2Weights": TorchSharp module weights, raw (the first member's)
    // binary streams "SaPE2Weights.1", "SaPE2Weights.2", …: the other members' weights (1.2)
    /// <summary>Writes the model entry; the format is described above.</summary>
    protected override void SaveModel(ModelSaveContext ctx)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var writer = MLNetInternals.BeginEntry(ctx, GetVersionInfo(members.Length == 1 ? SingleNetworkFormat : EnsembleFormat));
        foreach (string column in new[] { FeatureColumnName, label.Name, ScoreColumnName, PredictedLabelColumnName })
            MLNetInternals.SaveString(ctx, column);
        writer.Write(ClassNames.Count);
        LabelKeyValues.Save(Host, ctx, label);
        var weights = members.Select(m => ModelWeights.Save(m.Model)).ToArray();
        var saved = new SavedMetadata(Classifier.Metadata(), Convert.ToHexString(SHA256.HashData(weights[0])))
        {
            TrainingCancelled = TrainingCancelled,
        };
        if (members.Length > 1)
            saved = saved with
            {
                Weight = memberWeights[0],
                OtherMembers = members.Skip(1).Select((m, i) => new SavedMember(m.Metadata(), Convert.ToHexString(SHA256.HashData(weights[i + 1])),
                    memberWeights[i + 1])).ToArray(),
            };
        saved = saved with
        {
            ModelSha256 = saved.Integrity(FeatureColumnName, label.Name, ScoreColumnName, PredictedLabelColumnName, ClassNames.Count),
        };
        writer.Write(JsonSerializer.Serialize(saved));
        for (int i = 0; i < weights.Length; i++)
            MLNetInternals.SaveStream(ctx, i == 0 ? WeightsEntry : $"{WeightsEntry}.{i}", stream => stream.Write(weights[i]));
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
        var weights = LoadWeights(ctx, WeightsEntry, saved.WeightsSha256);
        if (saved.ModelSha256 is { } recorded && !recorded.Equals(saved.Integrity(feature, labelName, score, predicted, classes),
                StringComparison.Ordinal))
            throw new InvalidOperationException("The saved SaPE² model's settings (columns, architecture, classes or normalisation) do not " +
                "match its checksum: the file was edited or damaged, and would score differently from the model that was saved. Save the " +
                "model again.");
        var m = saved.Model;
        if (m.ClassNames.Count != classes || m.Config.NumClasses != classes)
            throw new InvalidOperationException($"The saved SaPE² model is inconsistent: {classes} classes in the header, {m.ClassNames.Count} " +
                $"names and {m.Config.NumClasses} outputs in the metadata.");
        var networks = new List<ImageClassifier>();
        try
        {
            networks.Add(ImageClassifier.Load(m, weights, $"the model's '{WeightsEntry}' entry"));
            foreach (var (member, i) in (saved.OtherMembers ?? []).Select((member, i) => (member, i + 1)))
                networks.Add(ImageClassifier.Load(member.Model, LoadWeights(ctx, $"{WeightsEntry}.{i}", member.WeightsSha256),
                    $"the model's '{WeightsEntry}.{i}' entry"));
            float[] memberWeights = saved.OtherMembers is { } others ? [saved.Weight ?? float.NaN, .. others.Select(o => o.Weight)] : [1f];
            return new Sape2ImageClassificationTransformer(env, networks, memberWeights, feature, labelColumn, score, predicted)
            {
                TrainingCancelled = saved.TrainingCancelled,
            };
        }
        catch (Exception e)
        {
            foreach (var network in networks) network.Dispose();
            if (e is ArgumentException) throw new InvalidOperationException($"The saved SaPE² ensemble is inconsistent: {e.Message}", e);
            throw;
        }
    }

    /// <summary>The binary stream <paramref name="entry"/>, checked against <paramref name="sha256"/>.</summary>
    private static byte[] LoadWeights(ModelLoadContext ctx, string entry, string sha256)
    {
        byte[] weights = Array.Empty<byte>();
        if (!MLNetInternals.TryLoadStream(ctx, entry, stream => weights = stream.ReadBytes((int)stream.BaseStream.Length)))
            throw new InvalidOperationException($"The saved SaPE² model has no '{entry}' entry; the file is truncated or not a SaPE² model.");
        if (!Convert.ToHexString(SHA256.HashData(weights)).Equals(sha256, StringComparison.Ordinal))
            throw new InvalidOperationException($"The saved SaPE² model's '{entry}' entry does not match its checksum: the file was " +
                $"truncated or edited. Save the model again.");
        return weights;
    }
}
