using Microsoft.ML.Data;
using Microsoft.ML.Data.IO;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2;

/// <summary>Saves and restores the label column's key type and key values (of any item type) inside a model entry.</summary>
internal static class LabelKeyValues
{
    public static void Save(IHost host, ModelSaveContext ctx, DataViewSchema.DetachedColumn label)
    {
        var keyValues = label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
        ctx.Writer.Write(keyValues is not null);
        if (keyValues is null) return;
        var method = typeof(LabelKeyValues).GetMethod(nameof(SaveValues),
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        method.MakeGenericMethod(((VectorDataViewType)keyValues.Value.Type).ItemType.RawType).Invoke(null, new object[] { host, ctx, label,
            keyValues.Value });
    }

    private static void SaveValues<T>(IHost host, ModelSaveContext ctx, DataViewSchema.DetachedColumn label, DataViewSchema.Column keyValues)
    {
        VBuffer<T> values = default;
        label.Annotations.GetGetter<VBuffer<T>>(keyValues)(ref values);
        var saver = new BinarySaver(host, new BinarySaver.Arguments());
        if (!saver.TryWriteTypeAndValue(ctx.Writer.BaseStream, (VectorDataViewType)keyValues.Type, ref values, out _))
            throw new InvalidOperationException($"The key values of label column '{label.Name}' have type {keyValues.Type}, which ML.NET cannot " +
                $"serialise.");
    }

    public static DataViewSchema.DetachedColumn Load(IHostEnvironment env, ModelLoadContext ctx, string name, int classes)
    {
        var keyType = new KeyDataViewType(typeof(uint), classes);
        if (!ctx.Reader.ReadBoolean()) return new DataViewSchema.DetachedColumn(name, keyType);
        var saver = new BinarySaver(env, new BinarySaver.Arguments());
        if (!saver.TryLoadTypeAndValue(ctx.Reader.BaseStream, out var type, out var value) || type is not VectorDataViewType vector || value is null)
            throw new InvalidOperationException($"The saved SaPE² model's key values for label column '{name}' are corrupt.");
        var method = typeof(LabelKeyValues).GetMethod(nameof(Getter),
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var getter = (Delegate)method.MakeGenericMethod(vector.ItemType.RawType).Invoke(null, new[] { value })!;
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add(AnnotationUtils.Kinds.KeyValues, type, getter);
        return new DataViewSchema.DetachedColumn(name, keyType, annotations.ToAnnotations());
    }

    private static Delegate Getter<T>(object value)
    {
        var values = (VBuffer<T>)value;
        ValueGetter<VBuffer<T>> getter = (ref VBuffer<T> destination) => values.CopyTo(ref destination);
        return getter;
    }
}
