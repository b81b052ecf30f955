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
    public static (List<Parameter> Decayed, List<Parameter> NotDecayed) Split(VisionTransformer model) => Split(model, model.parameters());

    /// <summary>
    /// The trainable parameters in AdamW groups by weight decay and learning-rate scale: <paramref name="rateScaleOf"/> gives each
    /// parameter's scale from its state-dict name (a lower rate for a pretrained backbone, layer-wise decay of a pretrained ViT).
    /// </summary>
    public static List<(List<Parameter> Parameters, bool Decayed, double RateScale)> ByRate(VisionTransformer model, Func<string, double> rateScaleOf)
    {
        var groups = new List<(List<Parameter>, bool, double)>();
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad);
        foreach (var scaled in trainable.GroupBy(p => rateScaleOf(p.name)).OrderByDescending(g => g.Key))
        {
            var (decayed, plain) = Split(model, scaled.Select(p => p.parameter));
            if (decayed.Count > 0) groups.Add((decayed, true, scaled.Key));
            if (plain.Count > 0) groups.Add((plain, false, scaled.Key));
        }
        return groups;
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

    private static (List<Parameter> Decayed, List<Parameter> NotDecayed) Split(VisionTransformer model, IEnumerable<Parameter> parameters)
    {
        var exempt = new[] { (TorchSharp.torch.nn.Module)model }.Concat(model.modules()).Distinct().OfType<INoWeightDecay>()
            .SelectMany(m => m.NoWeightDecay()).Select(p => p.Handle).ToHashSet();
        var decayed = new List<Parameter>();
        var plain = new List<Parameter>();
        foreach (var parameter in parameters.Where(p => p.requires_grad))
            (parameter.dim() >= 2 && !exempt.Contains(parameter.Handle) ? decayed : plain).Add(parameter);
        return (decayed, plain);
    }
}
