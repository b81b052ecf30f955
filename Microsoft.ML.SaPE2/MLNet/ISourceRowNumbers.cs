namespace Microsoft.ML.SaPE2;

/// <summary>
/// A view of some rows of another view (an experiment's training or validation split) that can say which row of the other each of
/// its own rows is, so that a message about a bad image names the row of the data the user passed, not its place in the split.
/// </summary>
internal interface ISourceRowNumbers
{
    /// <summary>The source's row number of this view's row <paramref name="position"/>.</summary>
    long SourceRow(long position);
}
