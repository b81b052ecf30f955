using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// CCT's sequence pooling (Hassani et al. 2021): a learned score per token, softmax over the tokens, and the
/// score-weighted mean of the tokens. Every token, hence every layer's position tables, gets a gradient.
/// </summary>
public sealed class SequencePooling : nn.Module<Tensor, Tensor>
{
    private readonly Linear score;

    /// <summary>Creates the pooling of <paramref name="embedDim"/>-wide tokens.</summary>
    public SequencePooling(int embedDim) : base(nameof(SequencePooling))
    {
        score = nn.Linear(embedDim, 1);
        RegisterComponents();
    }

    /// <summary>(B, T, C) tokens to (B, C).</summary>
    public override Tensor forward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var weights = ReducedPrecision.Softmax(score.forward(tokens), 1, tokens.dtype);   // (B, T, 1)
        return weights.transpose(1, 2).matmul(tokens)            // (B, 1, T) x (B, T, C) -> (B, 1, C)
            .squeeze(1).MoveToOuterDisposeScope();               // (B, C)
    }
}
