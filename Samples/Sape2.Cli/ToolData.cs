using Microsoft.ML;

namespace Sape2.Cli;

/// <summary>
/// The images of `train` and `sweep` as ML.NET views: every tenth training image held back for validation (the tool's
/// own split, the same for every run of a folder), labels keyed on the training images, the test images apart.
/// </summary>
internal sealed record ToolData(IDataView Train, IDataView? Validation, IDataView Test, int TrainCount, int ValidationCount, int TestCount,
    int Classes)
{
    public static ToolData Prepare(MLContext ml, List<ImageRow> trainRows, List<ImageRow> testRows)
    {
        if (testRows.Count == 0) throw new InvalidOperationException("There are too few images to hold any out for testing; add images (at " +
            "least 5 per class) or pass a folder with train/ and test/ sub-folders.");
        var (fitRows, validationRows) = ImageRows.Split(trainRows, every: 10);
        var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ImageRows.ToDataView(ml, trainRows));
        return new ToolData(keys.Transform(ImageRows.ToDataView(ml, fitRows)),
            validationRows.Count > 0 ? keys.Transform(ImageRows.ToDataView(ml, validationRows)) : null,
            keys.Transform(ImageRows.ToDataView(ml, testRows)), fitRows.Count, validationRows.Count, testRows.Count,
            trainRows.Select(r => r.Label).Distinct().Count());
    }

    /// <summary>Saves <paramref name="model"/> to <paramref name="path"/> through a temporary file, so a failure leaves no half-written
    /// model.</summary>
    public static void SaveModel(MLContext ml, ITransformer model, DataViewSchema inputSchema, string path) =>
        WriteAtomically(path, temporary => ml.Model.Save(model, inputSchema, temporary));

    /// <summary>Writes <paramref name="path"/> by letting <paramref name="write"/> fill a temporary file beside it, then moving it in
    /// place: an interrupted write never leaves a half-written file under the real name.</summary>
    public static void WriteAtomically(string path, Action<string> write)
    {
        string temporary = path + ".tmp";
        write(temporary);
        File.Move(temporary, path, overwrite: true);
    }
}
