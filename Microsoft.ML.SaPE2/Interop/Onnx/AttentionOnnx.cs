using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Interop.Onnx;

/// <summary>
/// One attention layer's logits (B, h, T, T) as ONNX nodes, for each position encoding: content only, SaPE² (Eq. 9–16 of
/// Docs/spec.md, as <see cref="Sape2Bias"/> computes it on any grid), CoPE and 2D RoPE (angles precomputed for the
/// model's grid). q and k are (B, h, T, d): P prefix tokens, then the N patches row-major.
/// </summary>
internal sealed class AttentionOnnx
{
    private readonly OnnxGraph g;
    private readonly VitConfig config;
    private readonly PatchGrid grid;
    private readonly IReadOnlyDictionary<string, Tensor> weights;
    private readonly string name;
    private readonly long heads, headDim, prefix;

    /// <summary>The emitter of the layer whose encoding's weights are named <paramref name="name"/>.* in <paramref name="weights"/>.</summary>
    public AttentionOnnx(OnnxGraph graph, VitConfig config, PatchGrid grid, IReadOnlyDictionary<string, Tensor> weights, string name)
    {
        g = graph;
        this.config = config;
        this.grid = grid;
        this.weights = weights;
        this.name = name;
        heads = config.NumHeads;
        headDim = config.HeadDim;
        prefix = config.PrefixTokens;
    }

    /// <summary>The logits before the softmax of the layer whose encoding is <paramref name="encoding"/>.</summary>
    public string Logits(AttentionPositionEncoding encoding, string q, string k) => encoding switch
    {
        NoAttentionPosition => ScaledDotProduct(q, k),
        Sape2Attention => Sape2Logits(q, k),
        CopeAttention => CopeLogits(q, k),
        RotaryAttention rotary => RotaryLogits(rotary, q, k),
        _ => throw new NotSupportedException($"ONNX export does not know the position encoding {encoding.GetType().Name}."),
    };

    private string Scale => g.Scalar((float)(1.0 / Math.Sqrt(headDim)));

    private string ScaledDotProduct(string q, string k) => g.Mul(g.MatMul(q, g.Transpose(k, 0, 1, 3, 2)), Scale);

    private string Patches(string x) => g.Narrow(x, 2, prefix, grid.Count);   // (B, h, N, d)

    /// <summary>A patch-only (B, h, N, N) term padded with zero rows and columns for the prefix tokens.</summary>
    private string PadForPrefix(string term) =>
        prefix == 0 ? term : g.Op("Pad", term, g.Int64s(0, 0, prefix, prefix, 0, 0, 0, 0));

    /// <summary>Eq. 16: <c>(q·k + σ·b)/√d</c>, or <c>q·k/√d + σ·b</c> with the bias outside the scale.</summary>
    private string Sape2Logits(string q, string k)
    {
        var content = g.MatMul(q, g.Transpose(k, 0, 1, 3, 2));
        var signedBias = g.Mul(PadForPrefix(Sape2Bias(Patches(q), Patches(k))), g.Scalar((float)config.Sape2BiasSign));
        if (config.Sape2BiasGate) signedBias = g.Mul(signedBias, g.Weight(name + ".biasGate", weights[name + ".biasGate"]));   // α·b
        return config.Sape2BiasInsideScale ? g.Mul(g.Add(content, signedBias), Scale) : g.Add(g.Mul(content, Scale), signedBias);
    }

    /// <summary>Eq. 9–15 on the H×W grid: b_in = ‖X_i − X_n‖₂ + ‖Y_i − Y_n‖₂, (B, h, N, N).</summary>
    private string Sape2Bias(string q, string k)
    {
        long rows = grid.Height, cols = grid.Width, n = grid.Count, m = config.EffectiveSape2TableSize;
        var qRows = g.Reshape(q, -1, heads, rows, cols, headDim);                                  // (B, h, H, W, d)
        var kRows = g.Reshape(k, -1, heads, rows, cols, headDim);
        var qCols = g.Transpose(qRows, 0, 1, 3, 2, 4);                                             // (B, h, W, H, d)
        var kCols = g.Transpose(kRows, 0, 1, 3, 2, 4);
        var v = config.Sape2Mode == Sape2Mode.Key ? k : q;                                         // (B, h, N, d)
        bool interpolate = config.Sape2InterpolatePositions;
        double scaleX = interpolate ? Math.Min(1.0, (m - 1.0) / cols) : 1.0, scaleY = interpolate ? Math.Min(1.0, (m - 1.0) / rows) : 1.0;

        var gateScale = g.Scalar((float)config.EffectiveSape2GateScale);                           // Eq. 9
        var gateX = g.Op("Sigmoid", g.Mul(g.MatMul(qRows, g.Transpose(kRows, 0, 1, 2, 4, 3)), gateScale));   // (B, h, H, W, W)
        var gateY = g.Op("Sigmoid", g.Mul(g.MatMul(qCols, g.Transpose(kCols, 0, 1, 2, 4, 3)), gateScale));   // (B, h, W, H, H)
        var positionX = Positions(gateX, cols, m, scaleX);                                         // Eq. 10
        var positionY = Positions(gateY, rows, m, scaleY);

        var logitsX = g.Reshape(g.MatMul(v, g.Weight(name + ".tableX", weights[name + ".tableX"])), -1, heads, rows, cols, m);   // Eq. 13
        var logitsY = g.Transpose(g.Reshape(g.MatMul(v, g.Weight(name + ".tableY", weights[name + ".tableY"])), -1, heads, rows, cols, m),
            0, 1, 3, 2, 4);                                                                        // (B, h, W, H, M)
        var vectorsX = g.Reshape(Interpolate(logitsX, positionX, m), -1, n, cols);                // Eq. 14, 12: (B·h, N, W)
        var vectorsY = g.Reshape(g.Transpose(Interpolate(logitsY, positionY, m), 0, 1, 3, 2, 4), -1, n, rows);   // (B·h, N, H)
        var bias = g.Add(PairwiseDistance(vectorsX), PairwiseDistance(vectorsY));                  // Eq. 15
        return g.Reshape(bias, -1, heads, n, n);
    }

    /// <summary>Eq. 10: suffix sums of the gates over the last axis (a matmul with a triangular ones matrix), scaled, clamped at M − 1.</summary>
    private string Positions(string gates, long length, long tableSize, double scale)
    {
        var suffix = new float[length * length];
        for (long j = 0; j < length; j++)
            for (long i = 0; i <= j; i++) suffix[j * length + i] = 1f;   // U[j, i] = 1 for j ≥ i
        var positions = g.MatMul(gates, g.Floats(new[] { length, length }, suffix));
        if (scale != 1.0) positions = g.Mul(positions, g.Scalar((float)scale));
        return g.Op("Min", positions, g.Scalar(tableSize - 1));
    }

    /// <summary>
    /// Eq. 14: <c>w·Z[⌈p⌉] + (1−w)·Z[⌊p⌋]</c>, <c>w = p − ⌊p⌋</c>, gathering from logits (…, M) at positions (…, K); the
    /// indices come from a NaN-free copy clamped to the table, as in training.
    /// </summary>
    private string Interpolate(string logits, string positions, long tableSize)
    {
        var weight = g.Sub(positions, g.Op("Floor", positions));
        var finite = g.Op("Where", g.Op("IsNaN", positions), g.Scalar(0f), positions);
        var safe = g.Op("Clip", finite, g.Scalar(0f), g.Scalar(tableSize - 1));
        string Gather(string op) => g.Op("GatherElements", new[] { logits, g.Op("Cast", new[] { g.Op(op, safe) }, OnnxAttribute.Int("to", 7)) },
            OnnxAttribute.Int("axis", -1));
        var lower = Gather("Floor");
        var upper = Gather("Ceil");
        return g.Add(g.Mul(weight, upper), g.Mul(g.Sub(g.Scalar(1f), weight), lower));
    }

    /// <summary><c>‖x_i − x_n‖₂</c> for every pair of rows of (G, N, K) → (G, N, N), directly (as cdist without matmul).</summary>
    private string PairwiseDistance(string vectors)
    {
        var difference = g.Sub(g.Unsqueeze(vectors, 2), g.Unsqueeze(vectors, 1));                   // (G, N, N, K)
        var squared = g.Op("ReduceSum", new[] { g.Mul(difference, difference) }, OnnxAttribute.Ints("axes", -1),
            OnnxAttribute.Int("keepdims", 0));
        return g.Op("Sqrt", squared);
    }

    /// <summary>CoPE: <c>q·k/√d</c> plus, among patches, the interpolated <c>q_i·e[p_ij]</c> at suffix-sum positions of the gates.</summary>
    private string CopeLogits(string q, string k)
    {
        var table = weights[name + ".table"];                                                     // (d, N₀ + 1)
        long maxPosition = table.shape[1] - 1;
        var logits = ScaledDotProduct(q, k);                                                       // (B, h, T, T)
        var patchLogits = g.Narrow(g.Narrow(logits, 2, prefix, grid.Count), 3, prefix, grid.Count);   // (B, h, N, N)
        var positions = Positions(g.Op("Sigmoid", patchLogits), grid.Count, maxPosition + 1, 1.0);
        var positionLogits = g.MatMul(Patches(q), g.Weight(name + ".table", table));              // (B, h, N, N₀ + 1)
        return g.Add(logits, PadForPrefix(Interpolate(positionLogits, positions, maxPosition + 1)));
    }

    /// <summary>2D RoPE: the patches' q and k rotated pairwise by the angles of their (x, y), then <c>q·k/√d</c>.</summary>
    private string RotaryLogits(RotaryAttention rotary, string q, string k)
    {
        using var rotation = rotary.RotationFor(grid);                                              // (2, [h,] N, d/2)
        using var cos = rotation[0];
        using var sin = rotation[1];
        string cosName = g.Weight(name + ".cos", cos), sinName = g.Weight(name + ".sin", sin);
        return ScaledDotProduct(Rotate(q, cosName, sinName), Rotate(k, cosName, sinName));
    }

    /// <summary>(B, h, P + N, d): consecutive channel pairs of the patches rotated, the prefix tokens as they are.</summary>
    private string Rotate(string x, string cos, string sin)
    {
        var pairs = g.Reshape(Patches(x), -1, heads, grid.Count, headDim / 2, 2);                  // (B, h, N, d/2, 2)
        string even = g.Select(pairs, 4, 0), odd = g.Select(pairs, 4, 1);                          // (B, h, N, d/2)
        var first = g.Sub(g.Mul(even, cos), g.Mul(odd, sin));
        var second = g.Add(g.Mul(even, sin), g.Mul(odd, cos));
        var rotated = g.Reshape(g.Concat(4, g.Unsqueeze(first, 4), g.Unsqueeze(second, 4)), -1, heads, grid.Count, headDim);
        return prefix == 0 ? rotated : g.Concat(2, g.Narrow(x, 2, 0, prefix), rotated);
    }
}
