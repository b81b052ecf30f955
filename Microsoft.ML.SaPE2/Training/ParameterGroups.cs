using Microsoft.ML.SaPE2.Modeling;
using TorchSharp.Modules;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>Which parameters get weight decay.</summary>
public static class ParameterGroups
{
    /// <summary>
    /// Weight decay applies to weight matrices and kernels (two or more dimensions) only: never to norms and biases
    /// (one dimension), the CLS token, or position tables (APE, SaPE², CoPE, RoPE frequencies), whose values are
    /// positions' identities rather than feature weights (timm's <c>no_weight_decay</c>).
    /// </summary>
    public static bool IsDecayed(string name, Parameter parameter) =>
        parameter.dim() >= 2 && name != "classToken" && !name.StartsWith("tokenPosition.") && !name.Contains(".position.");

    /// <summary>The model's parameters split into (decayed, not decayed).</summary>
    public static (List<Parameter> Decayed, List<Parameter> NotDecayed) Split(VisionTransformer model)
    {
        var decayed = new List<Parameter>();
        var plain = new List<Parameter>();
        foreach (var (name, parameter) in model.named_parameters())
            (IsDecayed(name, parameter) ? decayed : plain).Add(parameter);
        return (decayed, plain);
    }
}
