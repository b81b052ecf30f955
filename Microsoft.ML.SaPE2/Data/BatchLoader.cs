using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Data;

/// <summary>How a <see cref="BatchLoader"/> feeds one pass over a data set.</summary>
internal sealed record LoaderOptions
{
    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>Shuffle, augment and build soft targets (training), or keep order with plain labels (evaluation).</summary>
    public bool Training { get; init; }
    /// <summary>Augmentation used when <see cref="Training"/>.</summary>
    public AugmentationOptions Augmentation { get; init; } = new();
    /// <summary>Label smoothing of the soft targets, within [0, 1).</summary>
    public double LabelSmoothing { get; init; }
    /// <summary>Normalisation applied to every batch.</summary>
    public Normalization? Normalization { get; init; }
    /// <summary>Background threads building batches; 0: one per core.</summary>
    public int Workers { get; init; }
    /// <summary>Batches built ahead of the consumer at most (the bounded queue).</summary>
    public int QueueCapacity { get; init; } = 8;
    /// <summary>Put batches in page-locked memory, for fast asynchronous copies to a CUDA device.</summary>
    public bool PinMemory { get; init; }
    /// <summary>Seed of the shuffle and augmentation; with the epoch it fixes every batch.</summary>
    public int Seed { get; init; } = 1;
}

/// <summary>
/// Builds the batches of one epoch on background threads, at most <see cref="LoaderOptions.QueueCapacity"/> ahead,
/// and hands them out in order. Each batch's randomness is seeded from (seed, epoch, batch index), so the sequence
/// is the same for a given seed whatever the thread timing. A training epoch drops a last batch of fewer than two
/// images (a batch of one cannot be mixed).
/// </summary>
internal sealed class BatchLoader : IBatchSource
{
    private readonly ImageDataset data;
    private readonly LoaderOptions options;
    private readonly Normalization normalization;

    /// <summary>Creates a loader over <paramref name="data"/>.</summary>
    public BatchLoader(ImageDataset data, LoaderOptions options)
    {
        if (options.BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(options), $"BatchSize must be positive; got {options.BatchSize}.");
        if (options.QueueCapacity <= 0) throw new ArgumentOutOfRangeException(nameof(options), $"QueueCapacity must be positive; got " +
            $"{options.QueueCapacity}.");
        options.Augmentation.Validate();
        this.data = data;
        this.options = options;
        normalization = options.Normalization ?? Normalization.Default(data.Format.Channels);   // validated by the engine's Fit
    }

    /// <summary>Number of batches per epoch.</summary>
    public int BatchesPerEpoch => Plan(0).Count;

    /// <summary>The image indices of each batch of <paramref name="epoch"/>.</summary>
    private List<int[]> Plan(int epoch) =>
        PlanBatches(data.Count, options.BatchSize, options.Training ? new Random(SeedOf(epoch, -1)) : null);

    /// <summary>
    /// The indices 0 … <paramref name="count"/> − 1 in batches of <paramref name="batchSize"/>: in order, or shuffled by
    /// <paramref name="shuffle"/> for training, when a last batch of fewer than two is dropped (a batch of one cannot be mixed). Shared by
    /// every batch source.
    /// </summary>
    public static List<int[]> PlanBatches(int count, int batchSize, Random? shuffle)
    {
        var order = Enumerable.Range(0, count).ToArray();
        shuffle?.Shuffle(order);
        var batches = order.Chunk(batchSize).ToList();
        if (shuffle is not null && batches.Count > 0 && batches[^1].Length < 2) batches.RemoveAt(batches.Count - 1);
        return batches;
    }

    private int SeedOf(int epoch, int batch) => StableSeed(options.Seed, epoch, batch);

    // HashCode.Combine is randomised per process, so the seed mix is written out to stay the same across runs.
    private static int StableSeed(int seed, int epoch, int batch) =>
        (int)(((long)seed * 1_000_003 + (long)epoch * 7_919 + batch * 104_729L + 17) & int.MaxValue);

    /// <summary>The batches of <paramref name="epoch"/>, in order; stop enumerating early to cancel the rest.</summary>
    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancellation = default)
    {
        var plan = Plan(epoch);
        if (plan.Count == 0) yield break;
        int workers = Math.Min(plan.Count, options.Workers > 0 ? options.Workers : Environment.ProcessorCount);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var slots = new SemaphoreSlim(options.QueueCapacity);
        var ready = new ConcurrentDictionary<int, Batch>();
        using var arrived = new SemaphoreSlim(0);
        ExceptionDispatchInfo? failure = null;
        int next = -1;

        void Work()
        {
            try
            {
                while (true)
                {
                    slots.Wait(stop.Token);
                    int index = Interlocked.Increment(ref next);
                    if (index >= plan.Count) return;
                    ready[index] = Build(plan[index], epoch, index);
                    arrived.Release();
                }
            }
            catch (OperationCanceledException) { }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(e), null);
                arrived.Release();
            }
        }

        var threads = Enumerable.Range(0, workers).Select(_ => new Thread(Work) { IsBackground = true, Name = "SaPE2 batch loader" }).ToList();
        threads.ForEach(t => t.Start());
        try
        {
            for (int index = 0; index < plan.Count; index++)
            {
                Batch? batch;
                while (!ready.TryRemove(index, out batch))
                {
                    arrived.Wait(cancellation);
                    failure?.Throw();
                }
                slots.Release();
                yield return batch;
            }
        }
        finally
        {
            stop.Cancel();
            threads.ForEach(t => t.Join());
            foreach (var leftover in ready.Values) leftover.Dispose();
        }
    }

    private Batch Build(int[] indices, int epoch, int index)
    {
        using var scope = NewDisposeScope();
        var format = data.Format;
        var pixels = data.Pixels(indices);
        var labels = indices.Select(i => data.Labels[i]).ToArray();
        var unit = Preprocessing.ToUnitRange(pixels, indices.Length, format);
        Tensor? targets = null;
        if (options.Training)
            (unit, targets) = BatchAugmenter.Apply(unit, labels, data.ClassNames.Count, options.LabelSmoothing, options.Augmentation,
                new Random(SeedOf(epoch, index)));
        var images = Preprocessing.Normalize(unit, normalization);
        var labelTensor = tensor(labels.Select(l => (long)l).ToArray());
        if (options.PinMemory)
        {
            images = images.pin_memory();
            targets = targets?.pin_memory();
        }
        var batch = new Batch(images.DetachFromDisposeScope(), labelTensor.DetachFromDisposeScope(), targets?.DetachFromDisposeScope());
        return batch;
    }
}
