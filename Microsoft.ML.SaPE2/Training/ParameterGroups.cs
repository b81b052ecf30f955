using Microsoft.ML.SaPE2.Modeling;
using TorchSharp.Modules;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>Which parameters get weight decay.</summary>
internal static class ParameterGroups
{
    /// <summary>
    /// The model's parameters split into (decayed, not decayed). Weight decay applies to weight matrices and kernels
    /// (two or more dimensions) only: never to norms and biases (one dimension), nor to what a module declares through
    /// <see cref="INoWeightDecay"/> (the CLS token, the position tables of APE, SaPE² and CoPE, RoPE frequencies).
    /// </summary>
    public static (List<Parameter> Decayed, List<Parameter> NotDecayed) Split(VisionTransformer model)
    {
        var exempt = new[] { (TorchSharp.torch.nn.Module)model }.Concat(model.modules()).Distinct().OfType<INoWeightDecay>()
            .SelectMany(m => m.NoWeightDecay()).Select(p => p.Handle).ToHashSet();
        var decayed = new List<Parameter>();
        var plain = new List<Parameter>();
        foreach (var parameter in model.parameters())
            (parameter.dim() >= 2 && !exempt.Contains(parameter.Handle) ? decayed : plain).Add(parameter);
        return (decayed, plain);
    }
}
