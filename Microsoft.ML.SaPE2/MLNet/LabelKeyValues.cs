using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// The label column's key values, of any item type: saved and restored inside a model entry, and copied onto output
/// columns. Their item type is known only at run time, so each operation calls a generic method for it.
/// </summary>
internal static class LabelKeyValues
{
    public static void Save(IHost host, ModelSaveContext ctx, DataViewSchema.DetachedColumn label)
    {
        var keyValues = label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
        MLNetInternals.WriterOf(ctx).Write(keyValues is not null);
        if (keyValues is null) return;
        ForItemType(nameof(SaveValues), keyValues.Value).Invoke(null, new object[] { host, ctx, label, keyValues.Value });
    }

    private static void SaveValues<T>(IHost host, ModelSaveContext ctx, DataViewSchema.DetachedColumn label, DataViewSchema.Column keyValues)
    {
        VBuffer<T> values = default;
        label.Annotations.GetGetter<VBuffer<T>>(keyValues)(ref values);
        if (!MLNetInternals.TryWriteTypeAndValue(host, MLNetInternals.WriterOf(ctx).BaseStream, (VectorDataViewType)keyValues.Type, ref values))
            throw new InvalidOperationException($"The key values of label column '{label.Name}' have type {keyValues.Type}, which ML.NET cannot " +
                $"serialise.");
    }

    public static DataViewSchema.DetachedColumn Load(IHostEnvironment env, ModelLoadContext ctx, string name, int classes)
    {
        var keyType = new KeyDataViewType(typeof(uint), classes);
        var reader = MLNetInternals.ReaderOf(ctx);
        if (!reader.ReadBoolean()) return new DataViewSchema.DetachedColumn(name, keyType);
        if (!MLNetInternals.TryLoadTypeAndValue(env, reader.BaseStream, out var type, out var value) || type is not VectorDataViewType vector
            || value is null)
            throw new InvalidOperationException($"The saved SaPE² model's key values for label column '{name}' are corrupt.");
        var getter = (Delegate)ForItemType(nameof(Getter), vector).Invoke(null, new[] { value })!;
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add(AnnotationUtils.Kinds.KeyValues, type, getter);
        return new DataViewSchema.DetachedColumn(name, keyType, annotations.ToAnnotations());
    }

    /// <summary>
    /// Adds the key values of <paramref name="label"/>, if it has any, to <paramref name="builder"/> under
    /// <paramref name="kind"/> (TrainingLabelValues on a score column).
    /// </summary>
    public static void AddAs(DataViewSchema.Annotations.Builder builder, string kind, DataViewSchema.Annotations label)
    {
        if (label.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues) is not { Type: VectorDataViewType vector } keyValues) return;
        var value = ForItemType(nameof(Read), vector).Invoke(null, new object[] { label, keyValues })!;
        builder.Add(kind, vector, (Delegate)ForItemType(nameof(Getter), vector).Invoke(null, new[] { value })!);
    }

    private static object Read<T>(DataViewSchema.Annotations annotations, DataViewSchema.Column keyValues)
    {
        VBuffer<T> values = default;
        annotations.GetGetter<VBuffer<T>>(keyValues)(ref values);
        return values;
    }

    /// <summary>The generic method <paramref name="name"/> of this class for the item type of <paramref name="keyValues"/>.</summary>
    private static System.Reflection.MethodInfo ForItemType(string name, DataViewSchema.Column keyValues) =>
        ForItemType(name, (VectorDataViewType)keyValues.Type);

    private static System.Reflection.MethodInfo ForItemType(string name, VectorDataViewType keyValues) =>
        typeof(LabelKeyValues).GetMethod(name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(keyValues.ItemType.RawType);

    private static Delegate Getter<T>(object value)
    {
        var values = (VBuffer<T>)value;
        ValueGetter<VBuffer<T>> getter = (ref VBuffer<T> destination) => values.CopyTo(ref destination);
        return getter;
    }
}
