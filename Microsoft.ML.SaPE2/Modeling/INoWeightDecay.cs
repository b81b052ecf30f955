using TorchSharp.Modules;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// A module whose listed parameters are identities of positions or tokens (position tables, RoPE frequencies, the
/// CLS token) rather than feature weights, so the optimiser must not decay them: timm's <c>no_weight_decay</c>, declared
/// by the module that owns the parameters instead of matched by name.
/// </summary>
public interface INoWeightDecay
{
    /// <summary>This module's own parameters that take no weight decay (not its children's: they declare theirs).</summary>
    IEnumerable<Parameter> NoWeightDecay();
}
