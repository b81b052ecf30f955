using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Data;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// Some rows of a data view, by row number, without copying them: the experiment's stratified hold-out for
/// <c>SetDataset(data)</c>. Reads pass through to the source's cursor.
/// </summary>
internal sealed class RowSubset : IDataView, ISourceRowNumbers
{
    private readonly IDataView source;
    private readonly bool[] keep;
    private readonly int[] sourceRows;   // the source's row of each of this view's rows
    private readonly long count;

    private RowSubset(IDataView source, bool[] keep)
    {
        (this.source, this.keep) = (source, keep);
        sourceRows = Enumerable.Range(0, keep.Length).Where(i => keep[i]).ToArray();
        count = sourceRows.Length;
    }

    /// <inheritdoc />
    public long SourceRow(long position) => position >= 0 && position < sourceRows.Length ? sourceRows[position] : position;

    /// <summary>The training and validation parts of <paramref name="data"/>, stratified by the key column <paramref name="labelColumn"/>.</summary>
    public static (IDataView Train, IDataView Validation, int[] Labels) Split(IDataView data, string labelColumn, double fraction, int seed)
    {
        var labels = KeyLabels(data, labelColumn, "the dataset");
        var (train, validation) = StratifiedSplit.Indices(labels, fraction, seed);
        if (validation.Count == 0)
            throw new InvalidOperationException($"The dataset has too few rows per class ({labels.Length} rows) to hold {fraction:P0} out for " +
                "validation; pass a validation set with SetDataset(train, validation).");
        return (Of(data, train, labels.Length), Of(data, validation, labels.Length), validation.Select(i => labels[i]).ToArray());
    }

    /// <summary>
    /// The label keys (0-based) of every row of a Key&lt;UInt32&gt; column (checked by the trainer's schema check before), in
    /// row order; a missing key is refused naming its row.
    /// </summary>
    public static int[] KeyLabels(IDataView data, string labelColumn, string what)
    {
        var column = data.Schema[labelColumn];
        using var cursor = data.GetRowCursor(new[] { column });
        var getter = cursor.GetGetter<uint>(column);
        var labels = new List<int>();
        uint value = 0;
        while (cursor.MoveNext())
        {
            getter(ref value);
            if (value == 0) throw new InvalidOperationException($"Row {labels.Count} of {what} has a missing label in column '{labelColumn}'.");
            labels.Add((int)value - 1);
        }
        return labels.ToArray();
    }

    private static RowSubset Of(IDataView data, List<int> rows, int total)
    {
        var keep = new bool[total];
        foreach (int row in rows) keep[row] = true;
        return new RowSubset(data, keep);
    }

    public DataViewSchema Schema => source.Schema;
    public bool CanShuffle => false;
    public long? GetRowCount() => count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(source.GetRowCursor(columnsNeeded), keep);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        new[] { GetRowCursor(columnsNeeded, rand) };

    private sealed class Cursor(DataViewRowCursor inner, bool[] keep) : DataViewRowCursor
    {
        private long sourceRow = -1, position = -1;

        public override DataViewSchema Schema => inner.Schema;
        public override long Position => position;
        public override long Batch => 0;
        public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(column);
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => inner.GetGetter<TValue>(column);
        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

        public override bool MoveNext()
        {
            while (inner.MoveNext())
            {
                sourceRow++;
                if (sourceRow >= keep.Length)
                    throw new InvalidOperationException("The dataset has more rows than when it was split; it changed during the experiment.");
                if (!keep[sourceRow]) continue;
                position++;
                return true;
            }
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
