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
    /// The same split of the parameters of a hybrid model, with the pretrained backbone's in groups of their own (so they take a
    /// lower learning rate): (decayed, not decayed) of the rest, then (decayed, not decayed) of the backbone — empty when the
    /// model has none or it is frozen.
    /// </summary>
    public static ((List<Parameter> Decayed, List<Parameter> NotDecayed) Head, (List<Parameter> Decayed, List<Parameter> NotDecayed) Backbone)
        SplitBackbone(VisionTransformer model)
    {
        var backbone = model.Backbone?.parameters().Select(p => p.Handle).ToHashSet() ?? new HashSet<IntPtr>();
        return (Split(model, model.parameters().Where(p => !backbone.Contains(p.Handle))),
                Split(model, model.parameters().Where(p => backbone.Contains(p.Handle))));
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
