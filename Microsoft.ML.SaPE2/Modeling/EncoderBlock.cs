using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>A pre-norm transformer block: <c>x + drop(attn(norm(x)))</c>, then <c>x + drop(mlp(norm(x)))</c>.</summary>
public sealed class EncoderBlock : nn.Module<Tensor, PatchGrid, Tensor>
{
    private readonly LayerNorm attentionNorm;
    private readonly Attention attention;
    private readonly LayerNorm mlpNorm;
    private readonly Mlp mlp;
    private readonly nn.Module<Tensor, Tensor> dropPath;

    /// <summary>Creates a block of <paramref name="config"/> with stochastic-depth rate <paramref name="dropPathRate"/>.</summary>
    public EncoderBlock(VitConfig config, double dropPathRate) : base(nameof(EncoderBlock))
    {
        attentionNorm = nn.LayerNorm(config.EmbedDim, eps: 1e-6);
        attention = new Attention(config);
        mlpNorm = nn.LayerNorm(config.EmbedDim, eps: 1e-6);
        mlp = new Mlp(config.EmbedDim, (int)(config.EmbedDim * config.MlpRatio), config.Dropout);
        dropPath = dropPathRate > 0 ? new DropPath(dropPathRate) : nn.Identity();
        RegisterComponents();
    }

    /// <summary>The block's attention layer.</summary>
    public Attention Attention => attention;

    /// <summary>
    /// <see cref="forward"/>, also returning the attention weights (B, h, T, T) and, with SaPE², the bias (B, h, N, N) of
    /// this block, computed once.
    /// </summary>
    public (Tensor Output, Tensor Weights, Tensor? Sape2Bias) Inspect(Tensor x, PatchGrid grid)
    {
        using var scope = NewDisposeScope();
        var (attended, weights, bias) = attention.ForwardInspected(attentionNorm.forward(x), grid);
        return (Residuals(x, attended).MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope(), bias?.MoveToOuterDisposeScope());
    }

    /// <summary>(B, T, C) to (B, T, C).</summary>
    public override Tensor forward(Tensor x, PatchGrid grid)
    {
        using var scope = NewDisposeScope();
        return Residuals(x, attention.forward(attentionNorm.forward(x), grid)).MoveToOuterDisposeScope();
    }

    /// <summary>The rest of the pre-norm block once the attention of the normed <paramref name="x"/> is known.</summary>
    private Tensor Residuals(Tensor x, Tensor attended)
    {
        x = x + dropPath.forward(attended);
        return x + dropPath.forward(mlp.forward(mlpNorm.forward(x)));
    }
}
