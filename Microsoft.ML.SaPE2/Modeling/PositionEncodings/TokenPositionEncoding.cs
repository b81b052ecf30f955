using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>A position encoding added to the tokens once, after the patch embedding (APE, 2D sin-cos).</summary>
public abstract class TokenPositionEncoding : nn.Module, INoWeightDecay
{
    /// <summary>Creates the module under <paramref name="name"/>.</summary>
    protected TokenPositionEncoding(string name) : base(name) { }

    /// <summary>Every learned value of a position encoding is a position's identity: none is decayed.</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> NoWeightDecay() => parameters(recurse: false);

    /// <summary>
    /// Returns the tokens with position information added.
    /// </summary>
    /// <param name="tokens">(B, P + N, C): P prefix tokens (the CLS token, or none) then N patch tokens, row-major.</param>
    /// <param name="grid">The patch grid of this input (it may differ from the training grid).</param>
    /// <param name="prefixTokens">P, the number of leading tokens that are not patches.</param>
    public abstract Tensor Encode(Tensor tokens, PatchGrid grid, int prefixTokens);
}

/// <summary>The "off" token encoding: tokens pass unchanged.</summary>
public sealed class NoTokenPosition : TokenPositionEncoding
{
    /// <summary>Creates the identity encoding.</summary>
    public NoTokenPosition() : base(nameof(NoTokenPosition)) => RegisterComponents();

    /// <inheritdoc />
    public override Tensor Encode(Tensor tokens, PatchGrid grid, int prefixTokens) => tokens.alias();
}
