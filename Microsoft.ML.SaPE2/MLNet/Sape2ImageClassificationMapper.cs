using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;
using Microsoft.ML.SaPE2.Interop.Onnx;

namespace Microsoft.ML.SaPE2;

public sealed partial class Sape2ImageClassificationTransformer
{
    /// <summary>Images scored together when a whole data view is transformed.</summary>
    internal const int TransformBatchSize = 64;

    /// <summary>
    /// Maps a row's image to Score and PredictedLabel. With a <c>source</c> view (a Transform), it reads ahead on a
    /// second cursor of that view and scores <see cref="TransformBatchSize"/> rows per network call, matching rows by
    /// row ID; a row that is not the next one read ahead (a cursor over a subset, say) is scored on its own.
    /// </summary>
    private sealed class Mapper : MapperBase, ISaveAsOnnx
    {
        private readonly Sape2ImageClassificationTransformer parent;
        private readonly IDataView? source;
        private readonly int imageColumn;

        public Mapper(Sape2ImageClassificationTransformer parent, DataViewSchema inputSchema, IDataView? source)
            : base(parent.Host, inputSchema, parent)
        {
            ObjectDisposedException.ThrowIf(parent.disposed, parent);
            this.parent = parent;
            this.source = source;
            var column = inputSchema[parent.FeatureColumnName];
            var format = parent.Classifier.Format;
            if (ImageColumn.KindOf(inputSchema, column.Name) == ImageColumnKind.Pixels && column.Type is VectorDataViewType { Size: var size }
                && size != format.PixelCount)
                throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Schema mismatch for image column '{column.Name}': the model " +
                    $"takes {format.Channels}×{format.Height}×{format.Width} = {format.PixelCount} pixel values; the column holds " +
                    $"{size}.");
            imageColumn = column.Index;
        }

        /// <summary>
        /// Score and PredictedLabel with the annotations ML.NET's multiclass scorers give them (and the estimator's
        /// GetOutputSchema declares): the score-set id, kind and value kind; slot names and training label values
        /// when the label has text key values; the label's key values on the prediction.
        /// </summary>
        protected override DataViewSchema.DetachedColumn[] GetOutputColumnsCore()
        {
            int classes = parent.ClassNames.Count;
            uint setId = NextScoreColumnSetId(InputSchema);
            var keyValues = parent.label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
            var score = ScorerAnnotations(AnnotationUtils.Const.ScoreValueKind.Score, setId);
            LabelKeyValues.AddAs(score, AnnotationUtils.Kinds.TrainingLabelValues, parent.label.Annotations);
            if (keyValues is { Type: VectorDataViewType { ItemType: TextDataViewType } })
            {
                var names = new VBuffer<ReadOnlyMemory<char>>(classes, parent.ClassNames.Select(n => n.AsMemory()).ToArray());
                MLNetInternals.AddSlotNames(score, classes, (ref VBuffer<ReadOnlyMemory<char>> destination) => names.CopyTo(ref destination));
            }
            var predicted = ScorerAnnotations(AnnotationUtils.Const.ScoreValueKind.PredictedLabel, setId);
            predicted.Add(parent.label.Annotations, name => name == AnnotationUtils.Kinds.KeyValues);
            return new[]
            {
                new DataViewSchema.DetachedColumn(parent.ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, classes),
                    score.ToAnnotations()),
                new DataViewSchema.DetachedColumn(parent.PredictedLabelColumnName, parent.label.Type, predicted.ToAnnotations()),
            };
        }

        /// <summary>What every column of a multiclass scorer carries: the score kind, this value's kind and the score-set id.</summary>
        private static DataViewSchema.Annotations.Builder ScorerAnnotations(string valueKind, uint setId)
        {
            var builder = new DataViewSchema.Annotations.Builder();
            builder.Add(AnnotationUtils.Kinds.ScoreColumnKind, TextDataViewType.Instance,
                Text(AnnotationUtils.Const.ScoreColumnKind.MulticlassClassification));
            builder.Add(AnnotationUtils.Kinds.ScoreValueKind, TextDataViewType.Instance, Text(valueKind));
            builder.Add(AnnotationUtils.Kinds.ScoreColumnSetId, MLNetInternals.ScoreColumnSetIdType, (ref uint value) => value = setId);
            return builder;
        }

        private static ValueGetter<ReadOnlyMemory<char>> Text(string text) => (ref ReadOnlyMemory<char> value) => value = text.AsMemory();

        /// <summary>One more than the largest score-set id already in <paramref name="schema"/>, as ML.NET numbers score columns.</summary>
        private static uint NextScoreColumnSetId(DataViewSchema schema)
        {
            uint largest = 0;
            foreach (var column in schema)
            {
                if (column.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.ScoreColumnSetId) is not { } id) continue;
                uint value = 0;
                column.Annotations.GetGetter<uint>(id)(ref value);
                largest = Math.Max(largest, value);
            }
            return largest + 1;
        }

        public override Delegate[] CreateGetters(DataViewRow input, Func<int, bool> activeOutput, out Action disposer)
        {
            var getters = new Delegate[2];
            disposer = () => { };
            if (!activeOutput(0) && !activeOutput(1)) return getters;   // the image column is then inactive: nothing may read it
            var scorer = new RowScorer(parent, input, source, imageColumn);
            disposer = scorer.Dispose;
            if (activeOutput(0))
                getters[0] = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> destination) =>
                {
                    var probabilities = scorer.Probabilities();
                    var editor = VBufferEditor.Create(ref destination, probabilities.Length);
                    probabilities.CopyTo(editor.Values);
                    destination = editor.Commit();
                });
            if (activeOutput(1))
                getters[1] = (ValueGetter<uint>)((ref uint destination) =>
                {
                    var probabilities = scorer.Probabilities();
                    int best = 0;
                    for (int i = 1; i < probabilities.Length; i++) if (probabilities[i] > probabilities[best]) best = i;
                    destination = (uint)best + 1;   // keys count from 1
                });
            return getters;
        }

        protected override Delegate MakeGetter(DataViewRow input, int iinfo, Func<int, bool> activeOutput, out Action disposer)
        {
            var getters = CreateGetters(input, i => i == iinfo, out disposer);
            return getters[iinfo];
        }

        protected override Func<int, bool> GetDependenciesCore(Func<int, bool> activeOutput) =>
            column => (activeOutput(0) || activeOutput(1)) && column == imageColumn;

        protected override void SaveModel(ModelSaveContext ctx) => ((ICanSaveModel)parent).Save(ctx);

        /// <summary>
        /// ML.NET's ONNX hook: true when the image column holds pixel vectors. Encoded bytes and images cannot be: ONNX has no
        /// image decoder, and a pipeline stopped short here would silently export the wrong graph, so this says so instead.
        /// </summary>
        public bool CanSaveOnnx(OnnxContext ctx)
        {
            var kind = ImageColumn.KindOf(InputSchema, parent.FeatureColumnName);
            return kind == ImageColumnKind.Pixels ? true : throw new NotSupportedException(
                $"The SaPE² classifier reads column '{parent.FeatureColumnName}' as {kind}; ONNX has no image decoder, so ConvertToOnnx needs " +
                "the image column as a Vector<Single> of 0–255 pixels (ExtractPixels). Sape2Onnx.Export writes the classifier alone.");
        }

        /// <summary>Score (the class probabilities) and PredictedLabel (the most probable class's key, from 1) from the pixel vector.</summary>
        public void SaveAsOnnx(OnnxContext ctx)
        {
            var graph = new MLNetOnnxGraph(ctx);
            var probabilities = VitOnnx.AveragedProbabilities(graph, parent.members, parent.memberWeights,
                graph.ColumnVariable(parent.FeatureColumnName));
            var keyIndex = graph.Op("ArgMax", new[] { probabilities }, OnnxAttribute.Int("axis", 1), OnnxAttribute.Int("keepdims", 1));
            var key = graph.Add(keyIndex, graph.Int64s(1));                                                  // keys count from 1
            const long UInt32 = 12;
            var scoreType = new VectorDataViewType(NumberDataViewType.Single, parent.ClassNames.Count);
            graph.SetColumn(parent.ScoreColumnName, scoreType, "Identity", probabilities);
            graph.SetColumn(parent.PredictedLabelColumnName, parent.label.Type, "Cast", key, OnnxAttribute.Int("to", UInt32));
        }
    }

    /// <summary>The probabilities of the current row of one cursor, computed once per row, batched when reading ahead works.</summary>
    private sealed class RowScorer : IDisposable
    {
        private readonly Sape2ImageClassificationTransformer parent;
        private readonly DataViewRow row;
        private readonly Func<RawImage> readImage;
        private readonly ValueGetter<DataViewRowId> readId;
        private readonly Dictionary<DataViewRowId, float[]> ahead = new();
        private DataViewRowCursor? lookahead;
        private Func<RawImage>? readAheadImage;
        private ValueGetter<DataViewRowId>? readAheadId;
        private long position = -1;
        private float[] current = Array.Empty<float>();

        public RowScorer(Sape2ImageClassificationTransformer parent, DataViewRow row, IDataView? source, int imageColumn)
        {
            this.parent = parent;
            this.row = row;
            readImage = ImageColumn.Reader(row, row.Schema[imageColumn]);
            readId = row.GetIdGetter();
            if (source is not null)
            {
                lookahead = source.GetRowCursor(new[] { source.Schema[imageColumn] });
                readAheadImage = ImageColumn.Reader(lookahead, lookahead.Schema[imageColumn]);
                readAheadId = lookahead.GetIdGetter();
            }
        }

        public float[] Probabilities()
        {
            if (row.Position == position) return current;
            position = row.Position;
            current = Batched() ?? Single();
            return current;
        }

        private float[] Single()
        {
            var pixels = readImage().ToModelPixels(parent.Classifier.Format, new ImageRowLocation(row.Position, parent.FeatureColumnName));
            return parent.PredictProbabilities(pixels, 1);
        }

        private float[]? Batched()
        {
            if (lookahead is null) return null;
            DataViewRowId id = default;
            readId(ref id);
            if (ahead.Remove(id, out var found)) return found;
            ReadAhead();
            if (ahead.Remove(id, out found)) return found;
            StopReadingAhead();   // this cursor does not walk the view in order: score row by row from now on
            return null;
        }

        private void ReadAhead()
        {
            ahead.Clear();
            var ids = new List<DataViewRowId>(TransformBatchSize);
            var images = new List<RawImage>(TransformBatchSize);
            var rows = new List<long>(TransformBatchSize);   // for messages; the cursor's Position is -1 once it has run out
            DataViewRowId id = default;
            while (ids.Count < TransformBatchSize && lookahead!.MoveNext())
            {
                readAheadId!(ref id);
                ids.Add(id);
                images.Add(readAheadImage!());
                rows.Add(lookahead.Position);
            }
            if (ids.Count == 0) return;
            var format = parent.Classifier.Format;
            var pixels = new byte[ids.Count * format.PixelCount];
            Data.ParallelDecoding.For(ids.Count, i =>
                images[i].ToModelPixels(format, new ImageRowLocation(rows[i], parent.FeatureColumnName)).CopyTo(pixels, i * format.PixelCount));
            var probabilities = parent.PredictProbabilities(pixels, ids.Count, TransformBatchSize);
            int classes = parent.ClassNames.Count;
            for (int i = 0; i < ids.Count; i++) ahead[ids[i]] = probabilities.AsSpan(i * classes, classes).ToArray();
        }

        private void StopReadingAhead()
        {
            lookahead?.Dispose();
            lookahead = null;
            ahead.Clear();
        }

        public void Dispose() => StopReadingAhead();
    }
}
