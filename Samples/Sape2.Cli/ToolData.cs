using Microsoft.ML;
using Microsoft.ML.SaPE2;

namespace Sape2.Cli;

/// <summary>
/// The images of `train` and `sweep` as ML.NET views: every tenth training image held back for validation (the tool's
/// own split, the same for every run of a folder), labels keyed on the training images, the test images apart.
/// </summary>
internal sealed record ToolData(IDataView Train, IDataView? Validation, IDataView Test, List<ImageRow> FitRows, List<ImageRow> ValidationRows,
    List<ImageRow> TestRows, int Classes, DataViewSchema InputSchema)
{
    public int TrainCount => FitRows.Count;
    public int ValidationCount => ValidationRows.Count;
    public int TestCount => TestRows.Count;

    /// <summary>
    /// The views of <paramref name="trainRows"/> and <paramref name="testRows"/>. <see cref="InputSchema"/> is the one a saved model
    /// records: encoded image bytes, whatever the rows held, so 'predict' and 'evaluate' feed any model the tool wrote the same way.
    /// </summary>
    public static ToolData Prepare(MLContext ml, List<ImageRow> trainRows, List<ImageRow> testRows)
    {
        if (testRows.Count == 0) throw new InvalidOperationException("There are too few images to hold any out for testing; add images (at " +
            "least 5 per class) or pass a folder with train/ and test/ sub-folders.");
        var trained = trainRows.Select(r => r.Label).ToHashSet();
        var untrained = testRows.Where(r => !trained.Contains(r.Label)).GroupBy(r => r.Label).ToList();
        if (untrained.Count > 0)   // ML.NET maps an unknown label to a missing key, and Evaluate would drop those rows silently
            throw new InvalidOperationException($"The test images include classes with no training images: " +
                $"{string.Join(", ", untrained.Select(g => $"'{g.Key}' ({g.Count()} image(s), e.g. {g.First().Source})"))}. A model cannot " +
                "predict a class it never saw; add training images of those classes or remove them from the test images.");
        var (fitRows, validationRows) = ImageRows.Split(trainRows, every: 10);
        var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ImageRows.ToDataView(ml, trainRows));
        return new ToolData(keys.Transform(ImageRows.ToDataView(ml, fitRows)),
            validationRows.Count > 0 ? keys.Transform(ImageRows.ToDataView(ml, validationRows)) : null,
            keys.Transform(ImageRows.ToDataView(ml, testRows)), fitRows, validationRows, testRows,
            trainRows.Select(r => r.Label).Distinct().Count(), keys.GetOutputSchema(ImageRows.ToDataView(ml, []).Schema));
    }

    /// <summary><paramref name="e"/>, naming the file when it is a bad image the trainer (training or validation rows) or the model (test
    /// rows) found.</summary>
    public Exception WithFileName(Exception e) => ImageRows.WithFileName(ImageRows.WithFileName(ImageRows.WithFileName(e,
        InvalidImageException.TrainingData, FitRows), InvalidImageException.ValidationData, ValidationRows), null, TestRows);

    /// <summary>Saves <paramref name="model"/> to <paramref name="path"/> through a temporary file, so a failure leaves no half-written
    /// model.</summary>
    public static void SaveModel(MLContext ml, ITransformer model, DataViewSchema inputSchema, string path) =>
        WriteAtomically(path, temporary => ml.Model.Save(model, inputSchema, temporary));

    /// <summary>Writes <paramref name="path"/> by letting <paramref name="write"/> fill a temporary file beside it, then moving it in
    /// place: an interrupted write never leaves a half-written file under the real name.</summary>
    public static void WriteAtomically(string path, Action<string> write) => AtomicFile.Write(path, write);
}
