using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling.Backbone;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// The frozen backbone's feature maps of every image, computed once and served as batches epoch after epoch — the fast CPU
/// path of the hybrid ViT: the backbone's forward is most of a step's cost, and frozen it gives the same features each time.
/// Augmentation happens before the backbone, so each training image is kept in <c>views</c> versions: the image itself and
/// augmented copies (crop, flip and RandAugment as configured, without mixing); every epoch draws one view per image.
/// </summary>
internal sealed class CachedFeatures : IBatchSource, IDisposable
{
    private readonly Tensor features;   // (views, N, C, h, w) float32 on the CPU
    private readonly int[] labels;
    private readonly int classes, batchSize, seed;
    private readonly double labelSmoothing;
    private readonly bool training;

    private CachedFeatures(Tensor features, int[] labels, int classes, int batchSize, double labelSmoothing, int seed, bool training)
    {
        (this.features, this.labels, this.classes, this.batchSize, this.labelSmoothing, this.seed, this.training) =
            (features, labels, classes, batchSize, labelSmoothing, seed, training);
    }

    /// <summary>Bytes one view of one image takes (for the memory estimate).</summary>
    public static long BytesPerView(CnnGraph graph, int height, int width)
    {
        var grid = graph.GridFor(height, width);
        return 4L * graph.OutputChannels * grid.Count;
    }

    /// <summary>
    /// Runs <paramref name="backbone"/> (in evaluation mode, without gradients) over <paramref name="data"/>: one plain view, plus
    /// <paramref name="views"/> − 1 augmented ones when <paramref name="training"/>.
    /// </summary>
    public static CachedFeatures Compute(GraphBackbone backbone, ImageDataset data, Normalization normalization, int views,
        AugmentationOptions augmentation, int batchSize, double labelSmoothing, int seed, bool training, Device device,
        CancellationToken cancellation, Action? beforeEachChunk = null)
    {
        if (!training) views = 1;
        var unmixed = augmentation with { MixupAlpha = 0, CutmixAlpha = 0 };
        var format = data.Format;
        var grid = backbone.GridFor(format.Height, format.Width);
        var all = zeros(new long[] { views, data.Count, backbone.Graph.OutputChannels, grid.Height, grid.Width });
        try
        {
            backbone.eval();
            using var noGrad = no_grad();
            const int chunk = ImageClassifier.BackboneBatchSize;   // fastest on 2 cores: 45 images/s at 4, 20 at 16 (Benchmarks: backbone)
            for (int view = 0; view < views; view++)
                for (int start = 0; start < data.Count; start += chunk)
                {
                    cancellation.ThrowIfCancellationRequested();
                    beforeEachChunk?.Invoke();
                    using var scope = NewDisposeScope();
                    int n = Math.Min(chunk, data.Count - start);
                    var unit = Preprocessing.ToUnitRange(data.Pixels(Enumerable.Range(start, n).ToArray()), n, format);
                    if (view > 0)
                    {
                        var chunkLabels = Enumerable.Range(start, n).Select(i => data.Labels[i]).ToArray();
                        var random = new Random(seed * 7919 + view * 104_729 + start);
                        (unit, _) = BatchAugmenter.Apply(unit, chunkLabels, data.ClassNames.Count, 0, unmixed, random);
                    }
                    var maps = backbone.forward(Preprocessing.Normalize(unit, normalization).to(device)).cpu();
                    all[view].narrow(0, start, n).copy_(maps);
                }
            return new CachedFeatures(all, data.Labels.ToArray(), data.ClassNames.Count, batchSize, labelSmoothing, seed, training);
        }
        catch
        {
            all.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public int BatchesPerEpoch => Plan(0).Count;

    private List<int[]> Plan(int epoch) =>
        BatchLoader.PlanBatches(labels.Length, batchSize, training ? new Random(seed * 1_000_003 + epoch) : null);

    /// <inheritdoc />
    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancellation = default)
    {
        var random = new Random(seed * 31 + epoch);
        long views = features.shape[0], count = labels.Length;
        foreach (var indices in Plan(epoch))
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            // Row (view, image) of the (views · N, ...) table: one random view per image in training, the plain one otherwise.
            var rows = indices.Select(i => (training ? random.NextInt64(views) : 0) * count + i).ToArray();
            var maps = features.view(views * count, features.shape[2], features.shape[3], features.shape[4]).index_select(0, tensor(rows));
            var batchLabels = indices.Select(i => labels[i]).ToArray();
            var labelTensor = tensor(batchLabels.Select(l => (long)l).ToArray());
            var targets = training ? BatchAugmenter.SmoothedOneHot(batchLabels, classes, labelSmoothing) : null;
            yield return new Batch(maps.DetachFromDisposeScope(), labelTensor.DetachFromDisposeScope(), targets?.DetachFromDisposeScope());
        }
    }

    /// <inheritdoc />
    public void Dispose() => features.Dispose();
}
