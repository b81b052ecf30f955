using System.Runtime.CompilerServices;
using Microsoft.ML.SaPE2.Data;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// Decoded images kept across fits of the same <see cref="IDataView"/>s: an experiment fits the trainer once per
/// trial on the same data, and decoding is the same every time while the input format does not change. Keyed by the
/// view itself (held weakly) and by the columns, format and classes it was read with.
/// </summary>
internal sealed class DecodedImageCache
{
    private readonly ConditionalWeakTable<IDataView, Dictionary<string, object>> entries = new();
    private readonly Lock gate = new();

    public ImageSurvey Survey(IDataView data, string imageColumn, string what) =>
        GetOrAdd(data, $"survey|{imageColumn}", () => DataViewImages.Survey(data, imageColumn, what));

    public ImageDataset Read(IDataView data, string imageColumn, string labelColumn, ImageFormat format, IReadOnlyList<string> classNames,
        string what) =>
        GetOrAdd(data, $"read|{imageColumn}|{labelColumn}|{format}|{string.Join('\u001f', classNames)}",
            () => DataViewImages.Read(data, imageColumn, labelColumn, format, classNames, what));

    private T GetOrAdd<T>(IDataView data, string key, Func<T> make) where T : class
    {
        lock (gate)
        {
            var forView = entries.GetOrCreateValue(data);
            if (forView.TryGetValue(key, out var held)) return (T)held;
            var made = make();
            forView[key] = made;
            return made;
        }
    }
}
