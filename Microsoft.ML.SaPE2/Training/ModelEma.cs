using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// An exponential moving average of a model's weights: <c>ema ← d·ema + (1 − d)·w</c> after every step. Buffers (the
/// convolutional stem's BatchNorm running mean, variance and batch count) are copied from the model, not averaged.
/// </summary>
/// <remarks>
/// Why copied (timm's <c>ModelEmaV3(exclude_buffers=True)</c>): a running statistic is already an average over recent batches,
/// and this EMA has no decay warm-up, so averaging it again at d = 0.999 over a short CPU run (19 epochs of 42 steps, ~800
/// steps) would keep 0.999^800 ≈ 45% of the initial mean 0 and variance 1 — the bug this replaces, only smaller. Copied, the
/// statistics are those of the data as the live model sees it, a few hundred steps ahead of the averaged weights.
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

    public void Update(VisionTransformer source)
    {
        using var noGrad = no_grad();
        foreach (var (average, current) in Model.parameters().Zip(source.parameters()))
            average.mul_(decay).add_(current, alpha: 1 - decay);
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
