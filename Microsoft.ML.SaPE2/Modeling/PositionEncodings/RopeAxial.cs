using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// RoPE-Axial: fixed frequencies <c>ω_k = 100^(−4k/d)</c>, k &lt; d/4; the first d/4 channel pairs rotate by
/// <c>x·ω</c>, the last d/4 by <c>y·ω</c> (rope-vit's <c>compute_axial_cis</c>, θ = 100).
/// </summary>
public sealed class RopeAxial : RotaryAttention
{
    private const double Theta = 100.0;
    private readonly int headDim;
    private readonly PatchGrid? modelGrid;
    private readonly FixedTableCache rotations;

    /// <summary>
    /// Creates the encoding for heads of width <paramref name="headDim"/> (divisible by 4); the rotations of
    /// <paramref name="modelGrid"/> are kept once built.
    /// </summary>
    public RopeAxial(int headDim, PatchGrid? modelGrid = null) : base(nameof(RopeAxial))
    {
        CheckHeadWidth(headDim, nameof(headDim));
        this.headDim = headDim;
        this.modelGrid = modelGrid;
        rotations = new FixedTableCache((device, dtype) => base.Rotation(modelGrid!.Value, dtype, device));
        RegisterComponents();
    }

    /// <inheritdoc />
    protected override Tensor Rotation(PatchGrid grid, ScalarType dtype, Device device) =>
        grid == modelGrid ? rotations.Get(device, dtype).alias() : base.Rotation(grid, dtype, device);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) rotations.Dispose();
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    protected override Tensor Angles(Tensor columns, Tensor rows)
    {
        using var scope = NewDisposeScope();
        using Scalar start = 0.ToScalar(), end = headDim.ToScalar(), step = 4.ToScalar();   // owned (TorchSharpScalarTests)
        var exponent = arange(start, end, step, dtype: columns.dtype, device: columns.device).div(end);    // (d/4)
        var frequencies = pow(Theta, exponent).reciprocal();                                                // (d/4)
        var angles = cat(new[] { columns.outer(frequencies), rows.outer(frequencies) }, 1);                 // (N, d/2)
        return angles.MoveToOuterDisposeScope();
    }
}
