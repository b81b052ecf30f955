using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// A position encoding that acts inside every attention layer (RoPE, CoPE, SaPE²): it turns one layer's queries and
/// keys into the attention logits. Each attention layer owns its own instance (its own tables).
/// </summary>
public abstract class AttentionPositionEncoding : nn.Module, INoWeightDecay
{
    /// <summary>Creates the module under <paramref name="name"/>.</summary>
    protected AttentionPositionEncoding(string name) : base(name) { }

    /// <summary>Every learned value of a position encoding (tables, RoPE frequencies) is a position's identity: none is decayed.</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> NoWeightDecay() => parameters(recurse: false);

    /// <summary>Returns the attention logits before the softmax.</summary>
    /// <param name="query">(B, heads, P + N, d): P prefix tokens (CLS, or none), then N patch tokens, row-major.</param>
    /// <param name="key">Same shape as <paramref name="query"/>.</param>
    /// <param name="grid">The patch grid of this input.</param>
    /// <param name="prefixTokens">P; prefix tokens carry no position.</param>
    /// <returns>(B, heads, P + N, P + N).</returns>
    public abstract Tensor Logits(Tensor query, Tensor key, PatchGrid grid, int prefixTokens);

    /// <summary>
    /// <see cref="Logits"/>, and the pairwise position bias among the patch tokens, (B, heads, N, N), for encodings that
    /// add one (SaPE²; null for the others), computed once for both (explanations read it).
    /// </summary>
    public virtual (Tensor Logits, Tensor? PairBias) LogitsAndBias(Tensor query, Tensor key, PatchGrid grid, int prefixTokens) =>
        (Logits(query, key, grid, prefixTokens), null);

    /// <summary>The content term <c>q·kᵀ/√d</c> of every attention, (B, heads, T, T).</summary>
    protected static Tensor ScaledDotProduct(Tensor query, Tensor key)
    {
        using var scale = (1.0 / Math.Sqrt(query.shape[^1])).ToScalar();   // owned, alive through the native call (TorchSharpScalarTests)
        return query.matmul(key.transpose(-2, -1)).mul_(scale);
    }

    /// <summary>Pads a patch-only (…, N, N) term with zero rows and columns for the <paramref name="prefixTokens"/> leading tokens.</summary>
    protected static Tensor PadForPrefix(Tensor patchTerm, int prefixTokens) =>
        prefixTokens == 0 ? patchTerm.alias() : nn.functional.pad(patchTerm, new long[] { prefixTokens, 0, prefixTokens, 0 });
}

/// <summary>The "off" attention encoding: plain scaled dot-product logits.</summary>
public sealed class NoAttentionPosition : AttentionPositionEncoding
{
    /// <summary>Creates the content-only attention logits.</summary>
    public NoAttentionPosition() : base(nameof(NoAttentionPosition)) => RegisterComponents();

    /// <inheritdoc />
    public override Tensor Logits(Tensor query, Tensor key, PatchGrid grid, int prefixTokens) => ScaledDotProduct(query, key);
}
