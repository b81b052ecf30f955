using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>An exponential moving average of a model's weights: <c>ema ← d·ema + (1 − d)·w</c> after every step.</summary>
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
    }

    public void CopyFrom(VisionTransformer source)
    {
        using var noGrad = no_grad();
        foreach (var (average, current) in Model.parameters().Zip(source.parameters()))
            average.copy_(current);
    }

    public void Dispose() => Model.Dispose();
}
