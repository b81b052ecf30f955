using Microsoft.ML;
using Microsoft.ML.Data;

namespace Sape2.Cli;

/// <summary>
/// How a loaded model wants its rows: encoded image bytes in the classifier's own column (models written by 'sape2
/// train'), or a file path in a text column that the model's own LoadRawImageBytes or LoadImages reads (models saved
/// from the README's pipeline); the label as a key or as text, when the model's input has one.
/// </summary>
internal sealed record ModelInput(string ImageColumn, bool ImageIsPath, string? LabelColumn, bool LabelIsKey)
{
    /// <summary>The input the model at <paramref name="path"/> was saved with, or a clear refusal.</summary>
    public static ModelInput Of(DataViewSchema saved, string featureColumn, string labelColumn, string path)
    {
        var label = saved.GetColumnOrNull(labelColumn);
        string? labelName = label is { Type: KeyDataViewType or TextDataViewType } ? labelColumn : null;
        bool labelIsKey = label?.Type is KeyDataViewType;
        if (saved.GetColumnOrNull(featureColumn) is { } image)
        {
            if (image.Type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Byte)
                return new ModelInput(featureColumn, ImageIsPath: false, labelName, labelIsKey);
            throw Unsupported(saved, path, $"its image column '{featureColumn}' is {image.Type}");
        }
        var texts = saved.Where(c => c.Type is TextDataViewType && c.Name != labelColumn && !c.IsHidden).ToList();
        if (texts.Count == 1) return new ModelInput(texts[0].Name, ImageIsPath: true, labelName, labelIsKey);
        throw Unsupported(saved, path, texts.Count == 0 ? "it has no image column and no text column for image paths"
            : $"it has {texts.Count} text columns and the tool cannot tell which holds the image path");
    }

    private static InvalidOperationException Unsupported(DataViewSchema saved, string path, string why) =>
        new($"Model '{path}' was saved with input columns [{string.Join(", ", saved.Where(c => !c.IsHidden).Select(c => $"{c.Name}: {c.Type}"))}]" +
            $" and {why}. 'sape2 predict' and 'evaluate' feed either encoded image bytes (VarVector<Byte>) in the classifier's image " +
            "column, or an image file's path in the one text column the model's LoadRawImageBytes/LoadImages reads. Score this model " +
            "from your own program with the input class it was trained with.");

    /// <summary>
    /// A data view of <paramref name="images"/> (their bytes, or their files' paths) in this input's shape, with their
    /// labels as text or as keys of <paramref name="classNames"/> (an empty label: class 0, for prediction only).
    /// </summary>
    public IDataView Rows(MLContext ml, IReadOnlyList<ImageRow> images, IReadOnlyList<string> classNames)
    {
        var index = classNames.Select((name, i) => (name, i)).ToDictionary(c => c.name, c => (uint)c.i);
        var rows = images.Select(image => new Row
        {
            Image = image.Image,
            ImagePath = Path.GetFullPath(image.Source),   // LoadRawImageBytes combines it with its folder, and a full path wins
            Label = image.Label,
            Key = index.GetValueOrDefault(image.Label),   // LoadFromEnumerable reads a key's .NET value as the 0-based index
        });
        var definition = SchemaDefinition.Create(typeof(Row));
        var keep = new Dictionary<string, string> { [ImageIsPath ? nameof(Row.ImagePath) : nameof(Row.Image)] = ImageColumn };
        if (LabelColumn is not null) keep[LabelIsKey ? nameof(Row.Key) : nameof(Row.Label)] = LabelColumn;
        definition.RemoveAll(c => !keep.ContainsKey(c.MemberName));
        foreach (var column in definition) column.ColumnName = keep[column.MemberName];
        if (LabelColumn is not null && LabelIsKey) definition[LabelColumn].ColumnType = new KeyDataViewType(typeof(uint), classNames.Count);
        return ml.Data.LoadFromEnumerable(rows, definition);
    }

    private sealed class Row
    {
        public byte[] Image { get; set; } = Array.Empty<byte>();
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
        public uint Key { get; set; }
    }
}
