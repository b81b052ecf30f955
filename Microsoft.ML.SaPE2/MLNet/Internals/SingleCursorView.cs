using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// A transform's output that hands out one cursor where ML.NET would split its rows across threads. The transformer
/// reads ahead over its whole input and scores batches, each on every core (libtorch's threads, parallel decoding);
/// split cursors would each read ahead over every row, reading, decoding and scoring each image once per thread.
/// Views downstream still split after it. It is the transform to ML.NET's model walkers (ONNX conversion walks back through
/// <see cref="IDataTransform.Source"/>), each call passed to the wrapped one.
/// </summary>
internal sealed class SingleCursorView(RowToRowMapperTransform inner) : ITransformCanSaveOnnx
{
    public DataViewSchema Schema => ((IDataView)inner).Schema;
    public bool CanShuffle => inner.CanShuffle;
    public long? GetRowCount() => inner.GetRowCount();
    public IDataView Source => inner.Source;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var columns = columnsNeeded.ToList();
        var cursors = inner.GetRowCursorSet(columns, 1, rand);
        if (cursors.Length == 1) return cursors[0];
        foreach (var cursor in cursors) cursor.Dispose();   // a source that always splits: let ML.NET consolidate as usual
        return inner.GetRowCursor(columns, rand);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)inner).Save(ctx);
    bool ICanSaveOnnx.CanSaveOnnx(OnnxContext ctx) => ((ICanSaveOnnx)inner).CanSaveOnnx(ctx);
    void ISaveAsOnnx.SaveAsOnnx(OnnxContext ctx) => ((ISaveAsOnnx)inner).SaveAsOnnx(ctx);
}
