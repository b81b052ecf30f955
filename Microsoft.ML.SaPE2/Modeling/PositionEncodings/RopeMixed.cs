using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// RoPE-Mixed: learned frequencies per head, each channel pair rotating by <c>x·f_x + y·f_y</c> (rope-vit's
/// <c>init_random_2d_freqs</c>, θ = 10, a random direction per head, and <c>compute_mixed_cis</c>).
/// </summary>
public sealed class RopeMixed : RotaryAttention
{
    private const double Theta = 10.0;
    private readonly Parameter frequencies;   // (2, heads, d/2): [0] multiplies x, [1] multiplies y

    /// <summary>Creates the learned frequencies of <paramref name="numHeads"/> heads of width <paramref name="headDim"/>.</summary>
    public RopeMixed(int numHeads, int headDim) : base(nameof(RopeMixed))
    {
        CheckHeadWidth(headDim, nameof(headDim));
        frequencies = nn.Parameter(InitialFrequencies(numHeads, headDim));
        RegisterComponents();
    }

    /// <summary>The parameter's name, so the optimiser can keep weight decay off it.</summary>
    public const string FrequenciesName = nameof(frequencies);

    /// <inheritdoc />
    protected override Tensor Angles(Tensor columns, Tensor rows)
    {
        using var scope = NewDisposeScope();
        var fx = frequencies[0].to(columns.dtype).unsqueeze(1);                       // (heads, 1, d/2)
        var fy = frequencies[1].to(columns.dtype).unsqueeze(1);
        var angles = columns.view(1, -1, 1) * fx + rows.view(1, -1, 1) * fy;          // (heads, N, d/2)
        return angles.MoveToOuterDisposeScope();
    }

    private static Tensor InitialFrequencies(int numHeads, int headDim)
    {
        using var scope = NewDisposeScope();
        using Scalar start = 0.ToScalar(), end = headDim.ToScalar(), step = 4.ToScalar();   // owned (TorchSharpScalarTests)
        var magnitude = pow(Theta, arange(start, end, step, dtype: ScalarType.Float32).div(end)).reciprocal();      // (d/4)
        var direction = rand(numHeads, 1) * (2 * Math.PI);                                                          // (heads, 1)
        var fx = cat(new[] { magnitude * direction.cos(), magnitude * (direction + Math.PI / 2).cos() }, 1);       // (heads, d/2)
        var fy = cat(new[] { magnitude * direction.sin(), magnitude * (direction + Math.PI / 2).sin() }, 1);
        return stack(new[] { fx, fy }).MoveToOuterDisposeScope();                                                   // (2, heads, d/2)
    }
}
