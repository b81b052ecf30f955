namespace Microsoft.ML.SaPE2;

/// <summary>
/// An image that cannot be used: empty, not a supported format, corrupt, cut short or over the pixel limit. The message
/// names the image; when it was read from an <see cref="IDataView"/>, <see cref="Row"/>, <see cref="Column"/> and
/// <see cref="DataName"/> say where, so a program that built the view (from files, say) can name the file itself.
/// </summary>
public sealed class InvalidImageException : InvalidOperationException
{
    internal InvalidImageException(string imageName, string problem, long? row = null, string? column = null, string? dataName = null,
        Exception? inner = null) : base($"Image '{imageName}' {problem}", inner)
    {
        ImageName = imageName;
        Problem = problem;
        Row = row;
        Column = column;
        DataName = dataName;
    }

    /// <summary>The name the image was read under: a file path, or "row N of column 'C' (…)" for a data view's row.</summary>
    public string ImageName { get; }

    /// <summary>What is wrong and what to do, without the image's name: "is truncated: … Replace the file."</summary>
    public string Problem { get; }

    /// <summary>The 0-based row of the data view that held the image; null when it was not read from one.</summary>
    public long? Row { get; }

    /// <summary>The image column of that data view.</summary>
    public string? Column { get; }

    /// <summary>
    /// Which data view: <see cref="TrainingData"/> or <see cref="ValidationData"/> when the trainer read it during <c>Fit</c>;
    /// null when a fitted transformer scored it.
    /// </summary>
    public string? DataName { get; }

    /// <summary>The <see cref="DataName"/> of the data passed to <c>Fit</c> as training data.</summary>
    public const string TrainingData = "training data";

    /// <summary>The <see cref="DataName"/> of the validation data (<c>Fit(train, validation)</c> or <c>Options.ValidationSet</c>).</summary>
    public const string ValidationData = "validation set";

    /// <summary>This failure, located at <paramref name="row"/> of <paramref name="column"/> of <paramref name="dataName"/>.</summary>
    internal InvalidImageException At(long row, string column, string? dataName) => new(ImageName, Problem, row, column, dataName, this);
}
