using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// 2D rotary position embedding (Heo et al., ECCV 2024): the patch tokens' q and k are rotated pairwise by angles
/// that depend on the patch's (x, y), so <c>q_i·k_j</c> depends on the positions only through their offset.
/// Prefix tokens (CLS) are not rotated. Subclasses choose the angles.
/// </summary>
public abstract class RotaryAttention : AttentionPositionEncoding
{
    /// <summary>Creates the module under <paramref name="name"/>.</summary>
    protected RotaryAttention(string name) : base(name) { }

    /// <summary>
    /// The one check of 2D RoPE's head width: x and y each rotate half the channel pairs, so it must be divisible by 4.
    /// <paramref name="parameter"/> names the setting for the exception.
    /// </summary>
    public static void CheckHeadWidth(int headDim, string parameter)
    {
        if (headDim % 4 != 0) throw new ArgumentOutOfRangeException(parameter, $"2D RoPE needs a head width divisible by 4 (EmbedDim / " +
            $"NumHeads); got {headDim}.");
    }

    /// <summary>Rotation angle of every channel pair at every patch: (N, d/2), or (heads, N, d/2) per head.</summary>
    protected abstract Tensor Angles(Tensor columns, Tensor rows);

    /// <inheritdoc />
    public override Tensor Logits(Tensor query, Tensor key, PatchGrid grid, int prefixTokens)
    {
        using var scope = NewDisposeScope();
        var rotation = Rotation(grid, query.dtype, query.device);                  // (2, N, d/2) or (2, heads, N, d/2): cos, sin
        var logits = ScaledDotProduct(Rotate(query, rotation[0], rotation[1], prefixTokens),
            Rotate(key, rotation[0], rotation[1], prefixTokens));
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// cos and sin of <see cref="Angles"/> for <paramref name="grid"/>, stacked: (2, N, d/2) or (2, heads, N, d/2), in
    /// <paramref name="dtype"/>. Encodings with fixed angles override this to build it once.
    /// </summary>
    /// <remarks>
    /// Coordinates, angles, cos and sin are computed in at least fp32 and only the result is rounded to a bf16 model's dtype:
    /// bf16 holds whole numbers exactly only up to 256 (half the coordinates of a 32×32 grid would be wrong), and an angle
    /// of 30 rad carries an error of up to 0.06 rad there.
    /// </remarks>
    protected virtual Tensor Rotation(PatchGrid grid, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        using Scalar count = grid.Count.ToScalar(), width = grid.Width.ToScalar();   // owned (TorchSharpScalarTests)
        var index = arange(count, dtype: ReducedPrecision.AtLeastFloat32(dtype), device: device);
        var columns = index.remainder(width);                                       // x of each patch, (N)
        var rows = index.div(width, rounding_mode: RoundingMode.floor);             // y of each patch, (N)
        var angles = Angles(columns, rows);
        var rotation = stack(new[] { angles.cos(), angles.sin() });
        return ReducedPrecision.In(rotation, dtype).MoveToOuterDisposeScope();
    }

    /// <summary>cos and sin of the patch angles of <paramref name="grid"/> in <paramref name="dtype"/> (float32 unless given) on
    /// the CPU, as a forward pass in that dtype uses them (exporters, tests); the caller owns the tensor.</summary>
    internal Tensor RotationFor(PatchGrid grid, ScalarType dtype = ScalarType.Float32)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return Rotation(grid, dtype, CPU).clone().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rotates consecutive channel pairs of the patch tokens:
    /// <code>x: [x0 x1 x2 x3 …] -> [x0·cos θ0 − x1·sin θ0, x0·sin θ0 + x1·cos θ0, x2·cos θ1 − x3·sin θ1, …]</code>
    /// </summary>
    /// <param name="x">(B, heads, P + N, d).</param>
    /// <param name="angles">(N, d/2) or (heads, N, d/2).</param>
    /// <param name="prefixTokens">P leading tokens left as they are.</param>
    public static Tensor Rotate(Tensor x, Tensor angles, int prefixTokens)
    {
        using var scope = NewDisposeScope();
        return Rotate(x, angles.cos(), angles.sin(), prefixTokens).MoveToOuterDisposeScope();
    }

    /// <summary><see cref="Rotate(Tensor, Tensor, int)"/> with the angles' cosines and sines given.</summary>
    public static Tensor Rotate(Tensor x, Tensor cos, Tensor sin, int prefixTokens)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], h = x.shape[1], t = x.shape[2], d = x.shape[3];
        var patches = x.narrow(2, prefixTokens, t - prefixTokens).reshape(b, h, t - prefixTokens, d / 2, 2);  // (B, h, N, d/2, 2)
        var even = patches.select(-1, 0);                                           // (B, h, N, d/2)
        var odd = patches.select(-1, 1);
        var rotated = stack(new[] { even * cos - odd * sin, even * sin + odd * cos }, -1).reshape(b, h, t - prefixTokens, d);
        var result = prefixTokens == 0 ? rotated : cat(new[] { x.narrow(2, 0, prefixTokens), rotated }, 2);   // (B, h, P + N, d)
        return result.MoveToOuterDisposeScope();
    }
}
