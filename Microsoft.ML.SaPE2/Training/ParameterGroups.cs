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
    /// <remarks>Frozen parameters (<c>requires_grad</c> off: a frozen pretrained backbone) are in neither list.</remarks>
    public static (List<Parameter> Decayed, List<Parameter> NotDecayed) Split(VisionTransformer model)
    {
        var exempt = new[] { (TorchSharp.torch.nn.Module)model }.Concat(model.modules()).Distinct().OfType<INoWeightDecay>()
            .SelectMany(m => m.NoWeightDecay()).Select(p => p.Handle).ToHashSet();
        var decayed = new List<Parameter>();
        var plain = new List<Parameter>();
        foreach (var parameter in model.parameters().Where(p => p.requires_grad))
            (parameter.dim() >= 2 && !exempt.Contains(parameter.Handle) ? decayed : plain).Add(parameter);
        return (decayed, plain);
    }

    /// <summary>
    /// The trainable parameters in AdamW groups by weight decay and learning-rate scale: <paramref name="rateScaleOf"/> gives each
    /// parameter's scale from its state-dict name (a lower rate for a pretrained backbone, layer-wise decay of a pretrained ViT).
    /// Groups go from the highest scale down, the decayed group of a scale first.
    /// </summary>
    public static List<(List<Parameter> Parameters, bool Decayed, double RateScale)> ByRate(VisionTransformer model, Func<string, double> rateScaleOf)
    {
        var scaleOf = model.named_parameters().ToDictionary(p => p.parameter.Handle, p => rateScaleOf(p.name));
        var (decayed, plain) = Split(model);
        return decayed.Select(p => (Parameter: p, Decayed: true)).Concat(plain.Select(p => (Parameter: p, Decayed: false)))
            .GroupBy(p => (Scale: scaleOf[p.Parameter.Handle], p.Decayed))
            .OrderByDescending(g => g.Key.Scale).ThenByDescending(g => g.Key.Decayed)
            .Select(g => (g.Select(p => p.Parameter).ToList(), g.Key.Decayed, g.Key.Scale)).ToList();
    }

    /// <summary>
    /// timm's layer-wise learning-rate decay (BEiT): the patch embedding, CLS token and position table are layer 0, block i is layer
    /// i + 1, the final norm and head layer depth + 1; a parameter of layer l trains at <c>decay^(depth + 1 − l)</c> of the rate.
    /// </summary>
    public static double LayerDecayScale(string name, int depth, double decay)
    {
        int layer = name.StartsWith("blocks.", StringComparison.Ordinal) ? int.Parse(name.Split('.')[1]) + 1
            : name.StartsWith("patchEmbedding.", StringComparison.Ordinal) || name is "classToken" || name.StartsWith("tokenPosition.",
                StringComparison.Ordinal) ? 0 : depth + 1;
        return Math.Pow(decay, depth + 1 - layer);
    }
}
