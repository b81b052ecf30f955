using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>The transformer's feed-forward part: Linear → GELU → Dropout → Linear → Dropout.</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear expand;
    private readonly GELU activation;
    private readonly Dropout hiddenDropout;
    private readonly Linear contract;
    private readonly Dropout outputDropout;

    /// <summary>Creates an MLP of <paramref name="dim"/> → <paramref name="hiddenDim"/> → <paramref name="dim"/>.</summary>
    public Mlp(int dim, int hiddenDim, double dropout) : base(nameof(Mlp))
    {
        expand = nn.Linear(dim, hiddenDim);
        activation = nn.GELU();
        hiddenDropout = nn.Dropout(dropout);
        contract = nn.Linear(hiddenDim, dim);
        outputDropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    /// <summary>(B, T, C) to (B, T, C).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var hidden = hiddenDropout.forward(activation.forward(expand.forward(x)));   // (B, T, hidden)
        return outputDropout.forward(contract.forward(hidden)).MoveToOuterDisposeScope();
    }
}
