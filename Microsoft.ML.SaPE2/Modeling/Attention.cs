using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>Multi-head self-attention whose logits come from the layer's <see cref="AttentionPositionEncoding"/>.</summary>
public sealed class Attention : nn.Module<Tensor, PatchGrid, Tensor>
{
    private readonly Linear qkv;
    private readonly AttentionPositionEncoding position;
    private readonly Dropout attentionDropout;
    private readonly Linear projection;
    private readonly Dropout projectionDropout;
    private readonly double attentionDropoutRate, projectionDropoutRate;
    private readonly int numHeads;
    private readonly int prefixTokens;

    /// <summary>Creates one attention layer of <paramref name="config"/>, with its own position encoding.</summary>
    public Attention(VitConfig config) : base(nameof(Attention))
    {
        qkv = nn.Linear(config.EmbedDim, 3 * config.EmbedDim);
        position = PositionEncodingFactory.CreateAttentionEncoding(config);
        attentionDropout = nn.Dropout(config.AttentionDropout);
        projection = nn.Linear(config.EmbedDim, config.EmbedDim);
        projectionDropout = nn.Dropout(config.Dropout);
        (attentionDropoutRate, projectionDropoutRate) = (config.AttentionDropout, config.Dropout);
        numHeads = config.NumHeads;
        prefixTokens = config.PrefixTokens;
        RegisterComponents();
    }

    /// <summary>Leading tokens without a position (the CLS token, or none).</summary>
    public int PrefixTokens => prefixTokens;

    /// <summary>This layer's position encoding (for inspection: tables, SaPE² bias).</summary>
    public AttentionPositionEncoding PositionEncoding => position;

    /// <summary>(B, T, C) tokens to (B, T, C).</summary>
    public override Tensor forward(Tensor x, PatchGrid grid)
    {
        using var scope = NewDisposeScope();
        return Attend(x, grid, inspect: false).Output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="forward"/>, also returning what explanations show: the attention weights after softmax (B, heads, T, T)
    /// and the encoding's pairwise bias (B, heads, N, N; SaPE² only), each computed once.
    /// </summary>
    public (Tensor Output, Tensor Weights, Tensor? PairBias) ForwardInspected(Tensor x, PatchGrid grid)
    {
        using var scope = NewDisposeScope();
        var (output, weights, bias) = Attend(x, grid, inspect: true);
        return (output.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope(), bias?.MoveToOuterDisposeScope());
    }

    /// <summary>The attention of <paramref name="x"/>; the pairwise bias is kept only when <paramref name="inspect"/> asks for it.</summary>
    private (Tensor Output, Tensor Weights, Tensor? PairBias) Attend(Tensor x, PatchGrid grid, bool inspect)
    {
        long b = x.shape[0], t = x.shape[1], c = x.shape[2];
        var (q, k, v) = Heads(x);                                                          // each (B, h, T, d)
        var (logits, bias) = inspect ? position.LogitsAndBias(q, k, grid, prefixTokens) : (position.Logits(q, k, grid, prefixTokens), null);
        var weights = Dropout(attentionDropout, attentionDropoutRate, ReducedPrecision.Softmax(logits, -1, v.dtype));   // (B, h, T, T)
        var mixed = weights.matmul(v).transpose(1, 2).reshape(b, t, c);                    // (B, h, T, d) -> (B, T, C)
        return (Dropout(projectionDropout, projectionDropoutRate, projection.forward(mixed)), weights, bias);
    }

    /// <summary>A dropout of rate 0 is no operation: not dispatching one is a kernel launch saved on a GPU.</summary>
    private static Tensor Dropout(Dropout dropout, double rate, Tensor x) => rate > 0 ? dropout.forward(x) : x;

    /// <summary>Queries, keys and values per head, each (B, h, T, d).</summary>
    public (Tensor q, Tensor k, Tensor v) Heads(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], c = x.shape[2];
        var split = qkv.forward(x)                                        // (B, T, 3C)
            .reshape(b, t, 3, numHeads, c / numHeads)                     // (B, T, 3, h, d)
            .permute(2, 0, 3, 1, 4)                                       // (3, B, h, T, d)
            .unbind(0);                                                   // one operation (and one in the backward), not three
        return (split[0], split[1], split[2]);
    }
}
