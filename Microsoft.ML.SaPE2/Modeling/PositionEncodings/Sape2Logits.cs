using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// SaPE²'s attention logits, Eq. 9–16 — <c>q·kᵀ/√d</c> plus the bias of <see cref="Sape2Bias"/> on patch pairs — as one
/// autograd operation: the forward records no graph and the backward is written by hand, so a training step dispatches far
/// fewer tensor operations (on a GPU each is a kernel launch, and launches, not arithmetic, set SaPE²'s cost).
/// <see cref="Sape2Bias"/> stays the plain form; the tests hold this one to it, value and gradient.
/// </summary>
/// <remarks>
/// Where the operations go (Docs/spec.md, "computing it fast"):
/// - the gates are the sigmoid of the attention's own logits, read through strided views of the same-row and same-column
///   pairs (no matmul of their own); their gradient is added back into those pairs;
/// - the x and y axes run as one stacked tensor when H = W, as two groups otherwise;
/// - one gather reads Z at ⌊p⌋ and ⌈p⌉ together, and one scatter-add returns its gradient;
/// - the bias goes into the logits in place; the distances' gradient is one baddbmm.
/// The distances keep cdist's direct form (exact, a true 0 between equal rows). Only first derivatives are defined.
/// </remarks>
internal sealed class Sape2Logits : autograd.SingleTensorFunction<Sape2Logits>
{
    /// <summary>What one layer's SaPE² fixes: the grid, the table size M, the options of Eq. 9–16, the cached suffix-sum matrices
    /// and where a failing backward leaves its exception.</summary>
    internal sealed record Settings(PatchGrid Grid, long TableSize, int PrefixTokens, double GateScale, Sape2Mode Mode, double BiasSign,
        bool BiasInsideScale, bool InterpolatePositions, FixedTableCache SuffixOnes, PositionClampCounter? ClampCounter,
        BackwardFailureSlot Failures);

    /// <summary>Axes whose positions are computed together: both (H = W) or one; <c>Length</c> K = W for x, H for y.</summary>
    private readonly record struct AxisGroup(int First, int Count, int Length, double PositionScale);

    private const int SavedPerGroup = 6;

    [ThreadStatic] private static List<Tensor>? returnedGradients;

    public override string Name => nameof(Sape2Logits);

    /// <summary>
    /// The logits (B, heads, T, T) of <paramref name="query"/> and <paramref name="key"/> (B, heads, T, d; T = P + N, the P
    /// prefix tokens first) with SaPE²'s tables (d, M); through this function's backward when a gradient is wanted.
    /// </summary>
    public static Tensor Compute(Tensor query, Tensor key, Tensor tableX, Tensor tableY, Settings settings)
    {
        using var scope = NewDisposeScope();
        // Eq. 13 for every token, by autograd (its gradient then reaches the tables as a plain matmul's does): (B, h, T, 2M).
        var embeddingLogits = ReducedPrecision.Widened((settings.Mode == Sape2Mode.Key ? key : query).matmul(cat(new[] { tableX, tableY }, 1)));
        bool wantsGradient = is_grad_enabled() && (query.requires_grad || key.requires_grad || embeddingLogits.requires_grad);
        var logits = wantsGradient ? apply(query, key, embeddingLogits, settings) : Forward(query, key, embeddingLogits, settings, saved: null);
        return logits.MoveToOuterDisposeScope();
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var settings = (Settings)vars[3];
        var saved = new List<Tensor>();
        var logits = Forward((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], settings, saved);
        ctx.save_for_backward(saved);
        ctx.save_data(nameof(Settings), settings);
        return logits;
    }

    private static AxisGroup[] Groups(Settings settings, long tableSize)
    {
        int rows = settings.Grid.Height, cols = settings.Grid.Width;
        double Scale(int length) => settings.InterpolatePositions ? Math.Min(1.0, (tableSize - 1.0) / length) : 1.0;
        return rows == cols
            ? new[] { new AxisGroup(0, 2, cols, Scale(cols)) }
            : new[] { new AxisGroup(0, 1, cols, Scale(cols)), new AxisGroup(1, 1, rows, Scale(rows)) };
    }

    /// <summary>The forward; fills <paramref name="saved"/> with what the backward reads when it is given.</summary>
    private static Tensor Forward(Tensor query, Tensor key, Tensor embeddingLogits, Settings settings, List<Tensor>? saved)
    {
        using var scope = NewDisposeScope();
        long b = query.shape[0], h = query.shape[1], d = query.shape[3], m = settings.TableSize;
        var grid = settings.Grid;
        long n = grid.Count;
        double scale = 1.0 / Math.Sqrt(d);
        // Every Scalar is owned, alive through its native calls (TorchSharpScalarTests).
        using Scalar scaleScalar = scale.ToScalar(), lastEntry = (m - 1).ToScalar(), one = 1.ToScalar(), minusOne = (-1).ToScalar();
        // (B, h, T, T): q·kᵀ/√d; from bf16 q and k too, everything from here on is in fp32.
        var logits = ReducedPrecision.Widened(query.matmul(key.transpose(-2, -1))).mul_(scaleScalar);
        var patchEmbeddingLogits = PatchRows(embeddingLogits, settings);                     // Eq. 13: (B, h, H, W, 2, M)
        var created = saved is null ? null : new List<Tensor>();   // saved, and made here
        double ratio = settings.GateScale / scale;                                            // 1 for the spec's s = 1/√d

        Tensor? bias = null;
        foreach (var group in Groups(settings, m))
        {
            int a = group.Count, length = group.Length;
            var gateLogits = a == 2                                                            // Eq. 9, from q·kᵀ/√d: (B, h, H, W, A, K)
                ? stack(new[] { SameLinePairs(logits, 0, settings), SameLinePairs(logits, 1, settings) }, 4)
                : SameLinePairs(logits, group.First, settings).unsqueeze(4);
            var gates = (ratio == 1.0 ? gateLogits : gateLogits * ratio).sigmoid();
            var rawPositions = gates.matmul(settings.SuffixOnes.Get(gates.device, gates.dtype, length));   // Eq. 10
            using var positionScale = group.PositionScale.ToScalar();
            if (group.PositionScale != 1.0) rawPositions.mul_(positionScale);
            settings.ClampCounter?.Count(rawPositions, m - 1);
            var positions = rawPositions.clamp_max(lastEntry);
            var floor = positions.floor();
            // A NaN position (a diverging model) reads entry 0, never out of bounds; its NaN still reaches the loss.
            var indices = cat(new[] { floor, positions.ceil() }, -1).nan_to_num_(0, 0, 0).to(ScalarType.Int64);   // (…, 2K)
            var read = Axes(patchEmbeddingLogits, group).gather(-1, indices);                    // Z[⌊p⌋], Z[⌈p⌉]: (…, 2K)
            var lower = read.narrow(-1, 0, length);
            var difference = read.narrow(-1, length, length) - lower;
            var weight = positions - floor;
            var interpolated = lower.addcmul(weight, difference, one);                         // Eq. 14: (B, h, H, W, A, K)
            var vectors = interpolated.permute(4, 0, 1, 2, 3, 5).reshape(a * b * h, n, length);   // Eq. 12: (A·B·h, N, K)
            var distances = cdist(vectors, vectors, 2, compute_mode.donot_use_mm_for_euclid_dist);   // Eq. 15: (A·B·h, N, N)
            var perAxis = distances.view(a, b, h, n, n);
            var groupBias = perAxis.sum(dim: 0);
            bias = bias is null ? groupBias : bias.add_(groupBias);
            if (created is not null)
            {
                // σ'(x)·(what turns a gate's gradient into one of q·kᵀ): the gate logit is s·q·k and the position scaled.
                using var gateScale = (group.PositionScale * settings.GateScale).ToScalar();
                var gateSlope = gates.addcmul(gates, gates, minusOne).mul_(gateScale);
                created.AddRange(new[] { gateSlope, weight, difference, indices, vectors, perAxis });
            }
        }
        double coefficient = settings.BiasSign * (settings.BiasInsideScale ? scale : 1.0);   // Eq. 16
        using var coefficientScalar = coefficient.ToScalar();
        PatchBlock(logits, settings).add_(bias!, coefficientScalar);
        if (saved is not null && created is not null)
        {
            // libtorch takes them after this returns: they live in the caller's scope until then.
            saved.AddRange(new[] { query, key });
            saved.AddRange(created.Select(t => t.MoveToOuterDisposeScope()));
        }
        return logits.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradient)
    {
        // The gradients returned last time on this thread were copied by libtorch when that call returned: free them now
        // (on a GPU the autograd engine calls from its own thread, where no dispose scope would).
        foreach (var t in returnedGradients ?? new()) t.Dispose();
        returnedGradients = new List<Tensor>();
        try
        {
            var result = Backward(ctx, gradient);
            foreach (var t in result) returnedGradients.Add(t.DetachFromDisposeScope());
            return new List<Tensor>(result) { null! };
        }
        catch (Exception e)
        {
            // A .NET exception cannot cross libtorch's native caller: the caller of backward() raises it (BackwardFailureSlot).
            ((Settings)ctx.get_data(nameof(Settings))).Failures.Record(e);
            return new List<Tensor> { null!, null!, null!, null! };
        }
        finally
        {
            gradient.Dispose();
        }
    }

    /// <summary>The gradients of q, k and the embedding logits Z from that of the logits.</summary>
    private static List<Tensor> Backward(autograd.AutogradContext ctx, Tensor gradient)
    {
        using var scope = NewDisposeScope();
        var settings = (Settings)ctx.get_data(nameof(Settings));
        var saved = ctx.get_saved_variables();
        Tensor query = saved[0], key = saved[1];
        long b = query.shape[0], h = query.shape[1], t = query.shape[2], d = query.shape[3], m = settings.TableSize;
        var grid = settings.Grid;
        long n = grid.Count;
        double scale = 1.0 / Math.Sqrt(d);
        using var scaleScalar = scale.ToScalar();                                            // owned (TorchSharpScalarTests)
        var dContent = gradient.mul(scaleScalar);                                            // with respect to q·kᵀ: (B, h, T, T)
        var biasGradient = PatchBlock(settings.BiasInsideScale ? dContent : gradient, settings);   // ÷ σ: (B, h, N, N)
        var symmetric = biasGradient + biasGradient.transpose(-1, -2);                     // b is symmetric in its two patches
        var dEmbedding = zeros(new[] { b, h, t, 2 * m }, dtype: gradient.dtype, device: query.device);   // 0 for the prefix tokens
        var dPatchEmbedding = PatchRows(dEmbedding, settings);

        var groups = Groups(settings, m);
        for (int g = 0; g < groups.Length; g++)
        {
            var group = groups[g];
            int a = group.Count, length = group.Length;
            var s = saved.Skip(2 + SavedPerGroup * g).Take(SavedPerGroup).ToArray();
            Tensor gateSlope = s[0], weight = s[1], difference = s[2], indices = s[3], vectors = s[4], distances = s[5];
            // ∂D_in/∂x_i = (x_i − x_n)/D_in, 0 where D_in = 0 (as cdist defines it): dX = σ·(X·rowsum(W) − W·X), W = sym/D.
            var inverse = distances.reciprocal().nan_to_num_(0, 0, 0).mul_(symmetric).view(a * b * h, n, n);   // (A, B, h, N, N) first
            // TorchSharp's x.baddbmm(y, z, β, α) is β·z + α·(x·y).
            var dVectors = inverse.baddbmm(vectors, vectors.mul(inverse.sum(-1, keepdim: true)),
                (float)settings.BiasSign, (float)-settings.BiasSign);                           // (A·B·h, N, K)
            var dInterpolated = dVectors.view(a, b, h, grid.Height, grid.Width, length).permute(1, 2, 3, 4, 0, 5);   // (B, h, H, W, A, K)
            var dUpper = dInterpolated * weight;
            Axes(dPatchEmbedding, group).scatter_add_(-1, indices, cat(new[] { dInterpolated - dUpper, dUpper }, -1));
            // ∂z/∂p = Z[⌈p⌉] − Z[⌊p⌋]. Where the clamp holds p at M − 1, ⌊p⌋ = ⌈p⌉, so that difference
            // is already 0: the clamp's own gradient mask could never change a value, and is not applied.
            var dPositions = dInterpolated * difference;
            var dGateLogits = dPositions.matmul(settings.SuffixOnes.Get(query.device, dPositions.dtype, length).t()).mul_(gateSlope);
            var perAxisGateLogits = dGateLogits.unbind(4);
            for (int axis = 0; axis < a; axis++)
                SameLinePairs(dContent, group.First + axis, settings).add_(perAxisGateLogits[axis]);
        }

        var dContentInInputType = ReducedPrecision.In(dContent, query.dtype);
        var dQuery = dContentInInputType.matmul(key);
        var dKey = dContentInInputType.transpose(-2, -1).matmul(query);
        return new List<Tensor> { dQuery.MoveToOuterDisposeScope(), dKey.MoveToOuterDisposeScope(), dEmbedding.MoveToOuterDisposeScope() };
    }

    /// <summary>The patch tokens' rows of Z (B, h, T, 2M) as (B, h, H, W, 2, M), a view; axis 0 = x, 1 = y.</summary>
    private static Tensor PatchRows(Tensor embeddingLogits, Settings settings) =>
        embeddingLogits.narrow(2, settings.PrefixTokens, settings.Grid.Count)
            .view(embeddingLogits.shape[0], embeddingLogits.shape[1], settings.Grid.Height, settings.Grid.Width, 2, settings.TableSize);

    /// <summary>The axes of <paramref name="group"/> in a (…, 2, M) tensor: all of it when the group has both.</summary>
    private static Tensor Axes(Tensor perAxis, AxisGroup group) => group.Count == 2 ? perAxis : perAxis.narrow(4, group.First, group.Count);

    /// <summary>The patch block (B, h, N, N) of the pairs (B, h, T, T), as a view.</summary>
    private static Tensor PatchBlock(Tensor pairs, Settings settings)
    {
        long[] s = pairs.stride();
        long n = settings.Grid.Count;
        return pairs.as_strided(new[] { pairs.shape[0], pairs.shape[1], n, n }, s, Offset(pairs, settings));
    }

    /// <summary>
    /// The same-row (axis 0, x) or same-column (axis 1, y) patch pairs of the pairs (B, h, T, T), as a (B, h, H, W, K) view:
    /// [r, c, j] pairs patch (r, c) with the j-th patch of its row (K = W) or of its column (K = H).
    /// </summary>
    private static Tensor SameLinePairs(Tensor pairs, int axis, Settings settings)
    {
        long[] s = pairs.stride();
        long rows = settings.Grid.Height, cols = settings.Grid.Width, b = pairs.shape[0], h = pairs.shape[1], offset = Offset(pairs, settings);
        return axis == 0
            ? pairs.as_strided(new[] { b, h, rows, cols, cols }, new[] { s[0], s[1], cols * (s[2] + s[3]), s[2], s[3] }, offset)
            : pairs.as_strided(new[] { b, h, rows, cols, rows }, new[] { s[0], s[1], cols * s[2], s[2] + s[3], cols * s[3] }, offset);
    }

    private static long Offset(Tensor pairs, Settings settings)
    {
        long[] s = pairs.stride();
        return pairs.storage_offset() + settings.PrefixTokens * (s[2] + s[3]);
    }
}
