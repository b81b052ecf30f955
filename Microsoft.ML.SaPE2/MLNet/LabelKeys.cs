using Microsoft.ML.Data;

namespace Microsoft.ML.SaPE2;

/// <summary>Class names from a key-typed label column's key values.</summary>
internal static class LabelKeys
{
    /// <summary>One name per key (in key order): the key values as text, or "1" … "K" when the column has none.</summary>
    public static IReadOnlyList<string> ClassNames(DataViewSchema.Column label)
    {
        if (label.Type is not KeyDataViewType key)
            throw new ArgumentOutOfRangeException(nameof(label), $"Schema mismatch for label column '{label.Name}': expected Key<UInt32>, got " +
                $"{label.Type}. Use MapValueToKey.");
        if (key.Count is 0 or > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(label), $"Label column '{label.Name}' has a key type of unknown or huge size " +
                $"({key.Count}).");
        int count = (int)key.Count;
        var values = label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
        if (values is null) return Enumerable.Range(1, count).Select(i => i.ToString()).ToArray();
        var names = new string[count];
        var method = typeof(LabelKeys).GetMethod(nameof(Read), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var itemType = ((VectorDataViewType)values.Value.Type).ItemType.RawType;
        method.MakeGenericMethod(itemType).Invoke(null, new object[] { label, names });
        return names;
    }

    private static void Read<T>(DataViewSchema.Column label, string[] names)
    {
        VBuffer<T> values = default;
        label.GetKeyValues(ref values);
        var dense = values.DenseValues().ToArray();
        for (int i = 0; i < names.Length; i++) names[i] = i < dense.Length ? $"{dense[i]}" : $"{i + 1}";
    }
}
