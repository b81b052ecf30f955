using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// A trained vision transformer with everything needed to use it: input format, normalisation, class names and the
/// training history. Owns the module; <see cref="Dispose"/> frees its native memory.
/// </summary>
public sealed class ImageClassifier : IDisposable
{
    /// <summary>Wraps a trained <paramref name="model"/>.</summary>
    internal ImageClassifier(VisionTransformer model, ImageFormat format, Normalization normalization,
                           IReadOnlyList<string> classNames, IReadOnlyList<EpochMetrics> history)
    {
        if (classNames.Count != model.Config.NumClasses)
            throw new ArgumentException($"{classNames.Count} class names for a model with {model.Config.NumClasses} outputs.", nameof(classNames));
        normalization.Validate(format.Channels);
        Model = model;
        Format = format;
        Normalization = normalization;
        ClassNames = classNames;
        History = history;
    }

    /// <summary>
    /// The one way a saved classifier comes back (model.zip entries and checkpoints): the architecture, format,
    /// normalisation, classes and history of <paramref name="metadata"/> with <paramref name="weights"/> from
    /// <see cref="ModelWeights.Save"/>; a mismatch names <paramref name="source"/>.
    /// </summary>
    internal static ImageClassifier Load(CheckpointMetadata metadata, byte[] weights, string source)
    {
        var model = new VisionTransformer(metadata.Config, initialize: false);   // the saved weights replace every value
        try
        {
            ModelWeights.Load(model, weights, source);
            return new ImageClassifier(model, metadata.Format, metadata.Normalization, metadata.ClassNames, metadata.History);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>What <see cref="Load"/> needs besides the weights.</summary>
    internal CheckpointMetadata Metadata() => new()
    {
        Config = Config, Format = Format, Normalization = Normalization, ClassNames = ClassNames, History = History,
    };

    /// <summary>Images per forward pass through a pretrained backbone when scoring.</summary>
    internal const int BackboneBatchSize = 4;

    private readonly ReaderWriterLockSlim lifetime = new(LockRecursionPolicy.SupportsRecursion);
    private bool disposed;

    /// <summary>The TorchSharp module.</summary>
    public VisionTransformer Model { get; }
    /// <summary>The architecture.</summary>
    public VitConfig Config => Model.Config;
    /// <summary>Input size and channels images are decoded to.</summary>
    public ImageFormat Format { get; }
    /// <summary>Pixel normalisation used in training.</summary>
    public Normalization Normalization { get; }
    /// <summary>Class names; output slot <c>i</c> is <c>ClassNames[i]</c>.</summary>
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>Per-epoch figures of the training run.</summary>
    public IReadOnlyList<EpochMetrics> History { get; }

    /// <summary>
    /// Class probabilities of <paramref name="count"/> decoded images (bytes laid out as
    /// <see cref="ImageDataset"/>'s), row-major (count × classes), computed in batches of <paramref name="batchSize"/>.
    /// </summary>
    public float[] PredictProbabilities(byte[] pixels, int count, int batchSize = 256)
    {
        // Many threads may predict at once; Dispose waits for them and later calls fail cleanly instead of
        // touching freed native memory (ML.NET prediction engines dispose the model they own).
        lifetime.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return Predict(pixels, count, batchSize);
        }
        finally
        {
            lifetime.ExitReadLock();
        }
    }

    private float[] Predict(byte[] pixels, int count, int batchSize)
    {
        if (pixels.Length != (long)count * Format.PixelCount)
            throw new ArgumentException($"{pixels.Length} bytes do not hold {count} images of " +
                $"{Format.Channels}×{Format.Height}×{Format.Width}.", nameof(pixels));
        int classes = ClassNames.Count;
        var output = new float[count * classes];
        // A pretrained CNN's feature maps at 224 px are large (a batch of 256 would hold gigabytes at once), and its CPU pass is fastest
        // in small batches (Benchmarks: backbone).
        if (Model.Backbone is not null) batchSize = Math.Min(batchSize, BackboneBatchSize);
        var device = Model.parameters().First().device;
        Model.eval();
        using var noGrad = no_grad();
        for (int start = 0; start < count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            int n = Math.Min(batchSize, count - start);
            var chunk = pixels.AsSpan(start * Format.PixelCount, n * Format.PixelCount).ToArray();
            var input = Preprocessing.ToModelInput(chunk, n, Format, Normalization).to(device);
            var probabilities = Model.forward(input).softmax(-1).to(ScalarType.Float32).cpu();
            probabilities.data<float>().CopyTo(output, start * classes);
        }
        return output;
    }

    /// <summary>Frees the module's native memory once no prediction is running; later predictions throw <see
    /// cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lifetime.EnterWriteLock();
        try
        {
            if (disposed) return;
            disposed = true;
            Model.Dispose();
        }
        finally
        {
            lifetime.ExitWriteLock();
        }
    }
}
