using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Data.IO;
using Microsoft.ML.Runtime;
using Microsoft.ML.SaPE2;

// ML.NET's loader finds the transformer by these registrations when a model.zip is loaded.
[assembly: LoadableClass(typeof(Sape2ImageClassificationTransformer), null, typeof(SignatureLoadModel),
    Sape2ImageClassificationTransformer.UserName, Sape2ImageClassificationTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(Sape2ImageClassificationTransformer), null, typeof(SignatureLoadRowMapper),
    Sape2ImageClassificationTransformer.UserName, Sape2ImageClassificationTransformer.LoaderSignature)]

namespace Microsoft.ML.SaPE2;

/// <summary>
/// The one place that calls ML.NET's non-public API (with <see cref="MLNetOnnxGraph"/> for the ONNX converter's context and
/// <see cref="SingleCursorView"/> for its internal view interfaces). Everything else uses ML.NET's public API, these methods and
/// the base classes the transformer and its mapper derive from (<c>MLNetInternalsTests</c> holds both rules, and lists every
/// internal used: an ML.NET release that changes one fails there, naming it).
/// </summary>
internal static class MLNetInternals
{
    /// <summary>The environment behind a catalog (an <c>MLContext</c>'s), as ML.NET's own trainer extensions get it.</summary>
    public static IHostEnvironment EnvironmentOf(IInternalCatalog catalog) => CatalogUtils.GetEnvironment(catalog);

    /// <summary><c>MLContext.GpuDeviceId</c> and <c>MLContext.FallbackToCpu</c>; (null, true) for an environment that has neither.</summary>
    public static (int? GpuDeviceId, bool FallbackToCpu) DeviceRequest(IHostEnvironment environment) =>
        environment is IHostEnvironmentInternal context ? (context.GpuDeviceId, context.FallbackToCpu) : (null, true);

    /// <summary>Throws when <c>MLContext.CancelExecution</c> was called, as ML.NET's own trainers check between steps.</summary>
    public static void ThrowIfCancelled(IHostEnvironment environment) => environment.CheckAlive();

    /// <summary>An information line in <c>MLContext.Log</c>.</summary>
    public static void Log(this IChannel channel, string message) => channel.Info(message);

    /// <summary>A warning line in <c>MLContext.Log</c>.</summary>
    public static void Warn(this IChannel channel, string message) => channel.Warning(message);

    // *** Schema shapes (an estimator's GetOutputSchema) ***

    /// <summary>The shape of a data view's schema.</summary>
    public static SchemaShape ShapeOf(DataViewSchema schema) => SchemaShape.Create(schema);

    /// <summary>The column named <paramref name="name"/> in <paramref name="shape"/>, or null.</summary>
    public static SchemaShape.Column? FindColumn(SchemaShape shape, string name) =>
        shape.TryFindColumn(name, out var column) ? column : null;

    /// <summary>A multiclass trainer's score column: one float per class, with the annotations ML.NET's own trainers declare.</summary>
    public static SchemaShape.Column MulticlassScoreColumn(string name, SchemaShape.Column label) =>
        new(name, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false,
            new SchemaShape(AnnotationUtils.AnnotationsForMulticlassScoreColumn(label)));

    /// <summary>A multiclass trainer's predicted-label column: the label's key type and key values, and the trainer-output mark.</summary>
    public static SchemaShape.Column PredictedLabelColumn(string name, SchemaShape.Column label) =>
        new(name, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true,
            new SchemaShape(label.Annotations.Where(a => a.Name == AnnotationUtils.Kinds.KeyValues)
                .Concat(AnnotationUtils.GetTrainerOutputAnnotation())));

    // *** Annotations of scored columns ***

    /// <summary>The type of the score-set id annotation.</summary>
    public static DataViewType ScoreColumnSetIdType => AnnotationUtils.ScoreColumnSetIdType;

    /// <summary>Adds slot names (one per class) to a column's annotations.</summary>
    public static void AddSlotNames(DataViewSchema.Annotations.Builder builder, int size, ValueGetter<VBuffer<ReadOnlyMemory<char>>> names) =>
        builder.AddSlotNames(size, names);

    // *** Model entries (Model.Save / Model.Load) ***

    /// <summary>A version record for a model entry: the version written, the oldest reader version that can read it, and the oldest
    /// written version this code reads back.</summary>
    public static VersionInfo Version(string signature, uint written, uint readable, uint readsBackTo, string loaderSignature, Type loader) =>
        new(modelSignature: signature, verWrittenCur: written, verReadableCur: readable, verWeCanReadBack: readsBackTo,
            loaderAssemblyName: loader.Assembly.FullName, loaderSignature: loaderSignature);

    /// <summary>Starts writing a model entry of <paramref name="version"/>; its binary writer.</summary>
    public static BinaryWriter BeginEntry(ModelSaveContext ctx, VersionInfo version)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(version);
        return ctx.Writer;
    }

    /// <summary>Starts reading a model entry, checking its version; its binary reader.</summary>
    public static BinaryReader OpenEntry(ModelLoadContext ctx, VersionInfo version)
    {
        ctx.CheckAtModel(version);
        return ctx.Reader;
    }

    /// <summary>The writer of an entry already begun (<see cref="BeginEntry"/>).</summary>
    public static BinaryWriter WriterOf(ModelSaveContext ctx) => ctx.Writer;

    /// <summary>The reader of an entry already opened (<see cref="OpenEntry"/>).</summary>
    public static BinaryReader ReaderOf(ModelLoadContext ctx) => ctx.Reader;

    /// <summary>A non-empty string in ML.NET's string table.</summary>
    public static void SaveString(ModelSaveContext ctx, string value) => ctx.SaveNonEmptyString(value);

    /// <summary>A non-empty string from ML.NET's string table.</summary>
    public static string LoadString(ModelLoadContext ctx) => ctx.LoadNonEmptyString();

    /// <summary>A named binary stream beside the entry.</summary>
    public static void SaveStream(ModelSaveContext ctx, string name, Action<BinaryWriter> write) => ctx.SaveBinaryStream(name, write);

    /// <summary>Reads the named binary stream beside the entry; false when there is none.</summary>
    public static bool TryLoadStream(ModelLoadContext ctx, string name, Action<BinaryReader> read) => ctx.TryLoadBinaryStream(name, read);

    /// <summary>Writes a vector's type and value in ML.NET's binary format; false when ML.NET cannot serialise the type.</summary>
    public static bool TryWriteTypeAndValue<T>(IHostEnvironment environment, Stream stream, VectorDataViewType type, ref VBuffer<T> value) =>
        new BinarySaver(environment, new BinarySaver.Arguments()).TryWriteTypeAndValue(stream, type, ref value, out _);

    /// <summary>Reads a type and value written by <see cref="TryWriteTypeAndValue"/>; false when they are corrupt.</summary>
    public static bool TryLoadTypeAndValue(IHostEnvironment environment, Stream stream, out DataViewType? type, out object? value) =>
        new BinarySaver(environment, new BinarySaver.Arguments()).TryLoadTypeAndValue(stream, out type, out value);

    // *** Row mapping ***

    /// <summary><paramref name="input"/> with <paramref name="mapper"/>'s columns added, read through one cursor
    /// (<see cref="SingleCursorView"/>); <paramref name="remap"/> makes the mapper again for another schema.</summary>
    public static IDataView MapRows(IHost host, IDataView input, IRowMapper mapper, Func<DataViewSchema, IRowMapper> remap) =>
        new SingleCursorView(new RowToRowMapperTransform(host, input, mapper, remap));
}
