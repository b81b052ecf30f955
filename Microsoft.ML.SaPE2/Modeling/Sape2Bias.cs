using TorchSharp;
using static TorchSharp.torch;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// The SaPE² attention bias of Docs/spec.md (Eq. 9–15), as a pure function of one layer's queries, keys
/// and embedding tables. <see cref="PositionEncodings.Sape2Attention"/> calls this same code.
/// </summary>
public static class Sape2Bias
{
    /// <summary>
    /// Computes <c>b_in = ‖X_i − X_n‖₂ + ‖Y_i − Y_n‖₂</c> (Eq. 15) for every pair of patches, before the sign and the
    /// <c>1/√d</c> of Eq. 16. Works in the dtype and on the device of its inputs.
    /// </summary>
    /// <param name="query">q, shape (batch, heads, gridHeight·gridWidth, headDim): patch tokens only, row-major.</param>
    /// <param name="key">k, same shape as <paramref name="query"/>.</param>
    /// <param name="gridHeight">H, patch rows.</param>
    /// <param name="gridWidth">W, patch columns.</param>
    /// <param name="tableX">E_x, shape (headDim, M): embeddings of the integer positions 0 … M−1 along rows.</param>
    /// <param name="tableY">E_y, shape (headDim, M): the same along columns.</param>
    /// <param name="gateScale">s of Eq. 9 (the spec's default is 1/√headDim).</param>
    /// <param name="mode">Whether the embedding logits use k (<see cref="Sape2Mode.Key"/>) or q.</param>
    /// <returns>The bias, shape (batch, heads, N, N): symmetric, non-negative, zero on the diagonal.</returns>
    public static Tensor Compute(Tensor query, Tensor key, int gridHeight, int gridWidth,
                                 Tensor tableX, Tensor tableY, double gateScale, Sape2Mode mode) =>
        Compute(query, key, gridHeight, gridWidth, tableX, tableY, gateScale, mode, interpolatePositions: false, clampCounter: null);

    /// <summary>
    /// <see cref="Compute(Tensor, Tensor, int, int, Tensor, Tensor, double, Sape2Mode)"/>, with the positions scaled into the table on
    /// grids it does not cover when <paramref name="interpolatePositions"/> (<see cref="VitConfig.Sape2InterpolatePositions"/>), and
    /// every position counted by <paramref name="clampCounter"/> when one is given.
    /// </summary>
    internal static Tensor Compute(Tensor query, Tensor key, int gridHeight, int gridWidth, Tensor tableX, Tensor tableY,
                                   double gateScale, Sape2Mode mode, bool interpolatePositions, PositionClampCounter? clampCounter)
    {
        CheckShapes(query, key, gridHeight, gridWidth, tableX, tableY);
        using var scope = NewDisposeScope();
        long b = query.shape[0], h = query.shape[1], d = query.shape[3], m = tableX.shape[1];
        int rows = gridHeight, cols = gridWidth, n = rows * cols;

        // Patches on the grid: rows (x axis) and columns (y axis) as batch dimensions.
        var qRows = query.reshape(b, h, rows, cols, d);                   // (B, h, H, W, d)
        var kRows = key.reshape(b, h, rows, cols, d);                     // (B, h, H, W, d)
        var qCols = qRows.transpose(2, 3);                                // (B, h, W, H, d)
        var kCols = kRows.transpose(2, 3);                                // (B, h, W, H, d)
        var v = mode == Sape2Mode.Key ? key : query;                      // (B, h, N, d)
        double scaleX = interpolatePositions ? Math.Min(1.0, (m - 1.0) / cols) : 1.0;   // positions along a row reach W
        double scaleY = interpolatePositions ? Math.Min(1.0, (m - 1.0) / rows) : 1.0;
        if (rows == cols)
            return SquareGrid(qRows, kRows, qCols, kCols, v, tableX, tableY, gateScale, scaleX, clampCounter).MoveToOuterDisposeScope();

        // Eq. 9: gates between patches of the same row / column, both sides of i, no mask.
        var gateX = (gateScale * qRows.matmul(kRows.transpose(-1, -2))).sigmoid();   // (B, h, H, W, W): [r, i, j]
        var gateY = (gateScale * qCols.matmul(kCols.transpose(-1, -2))).sigmoid();   // (B, h, W, H, H): [c, i, j]

        // Eq. 10: p_im = Σ_{col(j) ≥ col(m)} g_ij, clamped to the last table entry.
        var positionX = Positions(gateX, m, scaleX, clampCounter);   // (B, h, H, W, W)
        var positionY = Positions(gateY, m, scaleY, clampCounter);   // (B, h, W, H, H)

        // Eq. 13: Z_i[t] = v_i·E[:, t] for every integer position t.
        var logitsX = v.matmul(tableX).reshape(b, h, rows, cols, m);                     // (B, h, H, W, M)
        var logitsY = v.matmul(tableY).reshape(b, h, rows, cols, m).transpose(2, 3);     // (B, h, W, H, M)

        // Eq. 14 and Eq. 12: X_i = [z_i1 … z_iW] over i's row, Y_i = [z_i1 … z_iH] over i's column.
        var vectorsX = PositionMath.Interpolate(logitsX, positionX)     // (B, h, H, W, W)
            .reshape(b * h, n, cols);                                                      // (B·h, N, W)
        var vectorsY = PositionMath.Interpolate(logitsY, positionY)     // (B, h, W, H, H)
            .transpose(2, 3).reshape(b * h, n, rows);                                  // (B·h, N, H)

        // Eq. 15: b_in = ‖X_i − X_n‖₂ + ‖Y_i − Y_n‖₂.
        var bias = PairwiseDistance(vectorsX) + PairwiseDistance(vectorsY);                // (B·h, N, N)
        return bias.reshape(b, h, n, n).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The same Eq. 9–15 for H = W = S, with the x and y axes stacked as one tensor through every step: half the
    /// tensor operations (on a GPU the step is bound by launching small kernels, not by their arithmetic).
    /// </summary>
    private static Tensor SquareGrid(Tensor qRows, Tensor kRows, Tensor qCols, Tensor kCols, Tensor v, Tensor tableX, Tensor tableY, double gateScale,
        double positionScale, PositionClampCounter? clampCounter)
    {
        long b = qRows.shape[0], h = qRows.shape[1], s = qRows.shape[2], m = tableX.shape[1], n = s * s;
        var q = stack(new[] { qRows, qCols }, 2);                                         // (B, h, 2, S, S, d): axis 0 = x, 1 = y
        var k = stack(new[] { kRows, kCols }, 2);                                         // (B, h, 2, S, S, d)
        var gates = (gateScale * q.matmul(k.transpose(-1, -2))).sigmoid();               // Eq. 9: (B, h, 2, S, S, S)
        var positions = Positions(gates, m, positionScale, clampCounter);                 // Eq. 10
        var logits = v.matmul(cat(new[] { tableX, tableY }, 1)).reshape(b, h, s, s, 2, m);   // Eq. 13, one matmul: (B, h, H, W, 2, M)
        var stacked = stack(new[] { logits.select(4, 0), logits.select(4, 1).transpose(2, 3) }, 2);   // (B, h, 2, S, S, M)
        var z = PositionMath.Interpolate(stacked, positions);                            // Eq. 14: (B, h, 2, S, S, S)
        var vectors = stack(new[] { z.select(2, 0), z.select(2, 1).transpose(2, 3) })     // Eq. 12: (2, B, h, H, W, S)
            .reshape(2 * b * h, n, s);                                                    // (2·B·h, N, S)
        var distances = PairwiseDistance(vectors);                                        // Eq. 15
        return distances.reshape(2, b, h, n, n).sum(dim: 0);                              // (B, h, N, N)
    }

    /// <summary>Eq. 10's cumulative positions of <paramref name="gates"/>, times <paramref name="scale"/>, clamped to the last of
    /// <paramref name="tableSize"/> entries (counted first when asked).</summary>
    private static Tensor Positions(Tensor gates, long tableSize, double scale, PositionClampCounter? clampCounter)
    {
        var positions = PositionMath.SuffixSum(gates);
        if (scale != 1.0) positions = positions * scale;
        clampCounter?.Count(positions, tableSize - 1);
        using var last = (tableSize - 1).ToScalar();   // owned, alive through the native call (TorchSharpScalarTests)
        return positions.clamp_max(last);
    }

    /// <summary>
    /// <c>D_in = ‖x_i − x_n‖₂</c> for every pair of rows of <paramref name="vectors"/> (G, N, K) → (G, N, N), with cdist's
    /// values and gradient but without its slow backward.
    /// </summary>
    /// <remarks>
    /// The value is the direct (no-matmul) cdist: exact, and a true 0 where rows coincide. Its backward on the CPU is
    /// 2–3× slower than all the rest of SaPE², so the gradient comes from a surrogate instead:
    /// <c>S_in = (x_i − x_n)·(x̂_i − x̂_n) / D̂_in</c> (hats: detached values, 1/D̂ taken as 0 where D̂ = 0), whose gradient
    /// with respect to x_i is <c>(x̂_i − x̂_n)/D̂_in</c> — exactly ∂D_in/∂x_i, and 0 at zero distance as cdist defines it.
    /// <c>D̂ + (S − S.detach())</c> has D̂'s value bit for bit (the bracket is exactly 0) and S's gradient. Expanded,
    /// S is two row-dot terms and a batched matmul. Only first derivatives are right, which is all training needs.
    /// </remarks>
    private static Tensor PairwiseDistance(Tensor vectors)
    {
        using var scope = NewDisposeScope();
        Tensor distance, inverse;
        using (no_grad())
        {
            distance = cdist(vectors, vectors, 2, compute_mode.donot_use_mm_for_euclid_dist);   // (G, N, N)
            if (!vectors.requires_grad) return distance.MoveToOuterDisposeScope();              // scoring: no gradient to shape
            using var zero = 0f.ToScalar();                                                     // owned (TorchSharpScalarTests)
            inverse = distance.reciprocal().masked_fill_(distance.eq(zero), zero);              // 1/D̂, 0 where D̂ = 0
        }
        var fixedVectors = vectors.detach();
        var self = (vectors * fixedVectors).sum(-1, keepdim: true);                       // (G, N, 1): x_i·x̂_i
        var cross = vectors.matmul(fixedVectors.transpose(-1, -2));                      // (G, N, N): x_i·x̂_n
        var surrogate = inverse * (self + self.transpose(-1, -2) - cross - cross.transpose(-1, -2));
        return (distance + (surrogate - surrogate.detach())).MoveToOuterDisposeScope();
    }

    static void CheckShapes(Tensor query, Tensor key, int gridHeight, int gridWidth, Tensor tableX, Tensor tableY)
    {
        if (gridHeight <= 0 || gridWidth <= 0)
            throw new ArgumentOutOfRangeException(nameof(gridHeight), $"The patch grid must be at least 1×1; got {gridHeight}×{gridWidth}.");
        if (query.dim() != 4)
            throw new ArgumentException($"query must be (batch, heads, N, headDim); got shape [{string.Join(", ", query.shape)}].", nameof(query));
        if (!query.shape.SequenceEqual(key.shape))
            throw new ArgumentException($"key must have the shape of query [{string.Join(", ", query.shape)}]; got " +
                $"[{string.Join(", ", key.shape)}].", nameof(key));
        if (query.shape[2] != (long)gridHeight * gridWidth)
            throw new ArgumentException($"query holds {query.shape[2]} tokens but the grid {gridHeight}×{gridWidth} has " +
                $"{gridHeight * gridWidth}; pass patch tokens only.", nameof(query));
        long d = query.shape[3];
        foreach (var (table, name) in new[] { (tableX, nameof(tableX)), (tableY, nameof(tableY)) })
        {
            if (table.dim() != 2 || table.shape[0] != d || table.shape[1] < 2)
                throw new ArgumentException($"{name} must be (headDim = {d}, M ≥ 2); got shape [{string.Join(", ", table.shape)}].", name);
        }
        if (tableX.shape[1] != tableY.shape[1])
            throw new ArgumentException($"tableX and tableY must have the same number of positions; got {tableX.shape[1]} and " +
                $"{tableY.shape[1]}.", nameof(tableY));
    }
}
