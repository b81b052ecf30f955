using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// Stochastic depth: in training, drops a residual branch for whole samples with probability p and scales the kept
/// ones by 1/(1−p); in evaluation, the identity.
/// </summary>
public sealed class DropPath : nn.Module<Tensor, Tensor>
{
    private readonly double probability;

    /// <summary>Creates the module; p must be in (0, 1) (use an identity for p = 0).</summary>
    public DropPath(double probability) : base(nameof(DropPath))
    {
        if (probability is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(probability), $"Should be within (0, 1); got {probability}.");
        this.probability = probability;
        RegisterComponents();
    }

    /// <summary>(B, …) to (B, …).</summary>
    public override Tensor forward(Tensor x)
    {
        if (!training) return x.alias();
        using var scope = NewDisposeScope();
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[0] = x.shape[0];
        using var keepProbability = (1 - probability).ToScalar();   // owned, alive through the native call (TorchSharpScalarTests)
        var keep = empty(shape, dtype: x.dtype, device: x.device).bernoulli_(1 - probability).div_(keepProbability);   // (B, 1, …)
        return (x * keep).MoveToOuterDisposeScope();
    }
}
