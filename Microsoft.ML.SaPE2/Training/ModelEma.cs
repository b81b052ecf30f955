using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// An exponential moving average of a model's weights: <c>ema ← d_t·ema + (1 − d_t)·w</c> after step t, with the decay warmed up as
/// <c>d_t = min(d, (1 + t)/(10 + t))</c> (TensorFlow's <c>ExponentialMovingAverage</c> with <c>num_updates</c>, timm's EMA warm-up).
/// Buffers (the convolutional stem's BatchNorm running mean, variance and batch count) are copied from the model, not averaged.
/// </summary>
/// <remarks>
/// Why the warm-up: without it the average keeps d^t of the initial weights — at d = 0.99 after 3 epochs of 42 steps, 28% — so an
/// experiment's EMA trials scored 17% at ASHA's first rung (measured: B automl, 900 s) and were always pruned. Why buffers are
/// copied (timm's <c>ModelEmaV3(exclude_buffers=True)</c>): a running statistic is already an average over recent batches;
/// averaged again it would lag the data for no gain, and it would start from the initial mean 0 and variance 1. Copied, the
/// statistics are those of the data as the live model sees it, a few steps ahead of the averaged weights.
/// </remarks>
internal sealed class ModelEma : IDisposable
{
    private readonly double decay;

    public ModelEma(VisionTransformer source, double decay)
    {
        this.decay = decay;
        Model = new VisionTransformer(source.Config);
        Model.to(source.parameters().First().device);
        CopyFrom(source);
        Model.eval();
    }

    public VisionTransformer Model { get; }

    /// <summary>The decay after optimiser step <paramref name="step"/> (counted from 0 over the whole run, resumes included).</summary>
    public double DecayAt(long step) => Math.Min(decay, (1.0 + step) / (10.0 + step));

    /// <summary>Averages in <paramref name="source"/>'s weights after its step <paramref name="step"/>, and takes its buffers.</summary>
    public void Update(VisionTransformer source, long step)
    {
        double d = DecayAt(step);
        using var noGrad = no_grad();
        using Scalar decay = d.ToScalar(), rest = (1 - d).ToScalar();   // owned, alive through the native calls (TorchSharpScalarTests)
        foreach (var (average, current) in Model.parameters().Zip(source.parameters()))
            average.mul_(decay).add_(current, alpha: rest);
        CopyBuffers(source);
    }

    public void CopyFrom(VisionTransformer source)
    {
        using var noGrad = no_grad();
        foreach (var (average, current) in Model.parameters().Zip(source.parameters()))
            average.copy_(current);
        CopyBuffers(source);
    }

    private void CopyBuffers(VisionTransformer source)
    {
        foreach (var (mine, theirs) in Model.buffers().Zip(source.buffers()))
            mine.copy_(theirs);
    }

    public void Dispose() => Model.Dispose();
}
