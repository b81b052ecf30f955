using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.Transforms.Image;

namespace Sape2.Cli;

/// <summary>
/// IDX or CIFAR records as an ML.NET view: an Image column (as LoadImages gives it), Label and Source text. The decoded
/// pixels reach the trainer as they are, never encoded to PNG and decoded again; ML.NET's LoadFromEnumerable cannot
/// make an image column, hence this view. Each image is made when a cursor reads its row.
/// </summary>
internal sealed class RecordView : IDataView
{
    private readonly IReadOnlyList<ImageRow> rows;

    public RecordView(IReadOnlyList<ImageRow> rows, ImageFormat stored)
    {
        this.rows = rows;
        var schema = new DataViewSchema.Builder();
        schema.AddColumn("Image", new ImageDataViewType(stored.Height, stored.Width));
        schema.AddColumn("Label", TextDataViewType.Instance);
        schema.AddColumn("Source", TextDataViewType.Instance);
        Schema = schema.ToSchema();
    }

    public DataViewSchema Schema { get; }
    public bool CanShuffle => false;
    public long? GetRowCount() => rows.Count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, columnsNeeded.Select(c => c.Index).ToHashSet());

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(RecordView view, HashSet<int> active) : DataViewRowCursor
    {
        private long position = -1;

        public override long Position => position;
        public override long Batch => 0;
        public override DataViewSchema Schema => view.Schema;
        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

        public override bool MoveNext()
        {
            if (position + 1 >= view.rows.Count) return false;
            position++;
            return true;
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)position, 0);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column)) throw new InvalidOperationException($"Column '{column.Name}' was not requested from the cursor.");
            Delegate getter = column.Index switch
            {
                0 => (ValueGetter<MLImage>)((ref MLImage image) => image = Row.ToMLImage()),
                1 => (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> label) => label = Row.Label.AsMemory()),
                _ => (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> source) => source = Row.Source.AsMemory()),
            };
            return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}, not " +
                $"{typeof(TValue).Name}.");
        }

        private ImageRow Row => view.rows[(int)position];
    }
}
