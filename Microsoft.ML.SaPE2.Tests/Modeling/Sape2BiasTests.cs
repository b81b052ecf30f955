using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

[TestClass]
public sealed class Sape2BiasTests
{
    // The golden vector of Docs/spec.md: B = 1, 1 head, H = W = 2, d = 2, M = 4, s = 1/√2.
    static readonly double[][] GoldenQ = { new[] { 1.0, 0 }, new[] { 0.5, -1 }, new[] { 0.0, 2 }, new[] { -1.0, 1 } };
    static readonly double[][] GoldenK = { new[] { 0.5, 0.5 }, new[] { 1.0, -1 }, new[] { -2.0, 0 }, new[] { 0.0, 1 } };
    static readonly double[][] GoldenEx = { new[] { 0, 0.1, 0.2, 0.3 }, new[] { 0.2, 0.1, 0, -0.1 } };
    static readonly double[][] GoldenEy = { new[] { 0.3, -0.3, 0.3, -0.3 }, new[] { 0, 0.05, 0.2, 0.45 } };
    static readonly double[] GoldenBiasQuery =
    {
        0, 0.362759, 0.519766, 0.655441,  0.362759, 0, 0.704689, 0.634352,
        0.519766, 0.704689, 0, 0.431451,  0.655441, 0.634352, 0.431451, 0,
    };
    static readonly double[] GoldenBiasKey =
    {
        0, 0.415004, 0.916855, 0.183205,  0.415004, 0, 1.038435, 0.549010,
        0.916855, 1.038435, 0, 0.784307,  0.183205, 0.549010, 0.784307, 0,
    };

    static Tensor Matrix(double[][] rows, ScalarType dtype) =>
        tensor(rows.SelectMany(r => r).ToArray(), dtype: dtype).reshape(rows.Length, rows[0].Length);

    [TestMethod]
    [DataRow(Sape2Mode.Query, ScalarType.Float64, 1e-6)]
    [DataRow(Sape2Mode.Key, ScalarType.Float64, 1e-6)]
    [DataRow(Sape2Mode.Query, ScalarType.Float32, 1e-5)]
    [DataRow(Sape2Mode.Key, ScalarType.Float32, 1e-5)]
    public void GoldenVectorMatches(Sape2Mode mode, ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        var q = Matrix(GoldenQ, dtype).reshape(1, 1, 4, 2);
        var k = Matrix(GoldenK, dtype).reshape(1, 1, 4, 2);
        var bias = Sape2Bias.Compute(q, k, 2, 2, Matrix(GoldenEx, dtype), Matrix(GoldenEy, dtype), 1 / Math.Sqrt(2), mode);
        var golden = tensor(mode == Sape2Mode.Query ? GoldenBiasQuery : GoldenBiasKey).reshape(1, 1, 4, 4);
        Assert.AreEqual(dtype, bias.dtype, "The bias must keep the inputs' dtype.");
        // The golden values have 6 decimals, so they carry up to 5e-7 of rounding on top of the tolerance.
        TensorAssert.AreClose(golden, bias, tolerance + 5e-7, $"golden bias, {mode} mode, {dtype}");
    }

    [TestMethod]
    public void GoldenVectorMatchesTheLoopReference()
    {
        // The loop reference reproduces the spec's published numbers, so it can stand in for them on other shapes.
        var reference = Sape2ReferenceBias.Compute(GoldenQ, GoldenK, 2, 2, GoldenEx, GoldenEy, 1 / Math.Sqrt(2), keyMode: true);
        for (int i = 0; i < 16; i++)
            Assert.AreEqual(GoldenBiasKey[i], reference[i / 4, i % 4], 5e-7, $"reference bias entry ({i / 4}, {i % 4})");
    }

    [TestMethod]
    [DataRow(2, 3, Sape2Mode.Key, 0)]
    [DataRow(3, 3, Sape2Mode.Key, 0)]
    [DataRow(4, 4, Sape2Mode.Query, 0)]
    [DataRow(3, 2, Sape2Mode.Query, 0)]
    [DataRow(3, 5, Sape2Mode.Key, 0)]
    [DataRow(8, 8, Sape2Mode.Key, 0)]     // the 32×32, patch-4 training grid
    [DataRow(8, 8, Sape2Mode.Query, 0)]
    [DataRow(5, 5, Sape2Mode.Key, 3)]     // a table too short for the grid: positions past M − 1 = 2 clamp to the last entry
    [DataRow(5, 5, Sape2Mode.Query, 3)]
    public void GridsMatchLoopReference(int gridHeight, int gridWidth, Sape2Mode mode, int tableSize)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(7);
        int b = 2, h = 2, d = 4, m = tableSize > 0 ? tableSize : Math.Max(gridHeight, gridWidth) + 1, n = gridHeight * gridWidth;
        var q = randn(b, h, n, d, dtype: ScalarType.Float64);
        var k = randn(b, h, n, d, dtype: ScalarType.Float64);
        var tableX = randn(d, m, dtype: ScalarType.Float64) * 0.5;
        var tableY = randn(d, m, dtype: ScalarType.Float64) * 0.5;
        double s = 0.7;

        var bias = Sape2Bias.Compute(q, k, gridHeight, gridWidth, tableX, tableY, s, mode);
        if (tableSize > 0)
        {
            // The clamp is really used: some patch's gates along its row sum past the last table index.
            var rowGateSums = sigmoid(s * q.matmul(k.transpose(-1, -2))).reshape(b, h, n, gridHeight, gridWidth).sum(-1);
            Assert.IsTrue(rowGateSums.max().item<double>() > m - 1, $"No position reaches past M − 1 = {m - 1}; the clamp is not exercised.");
        }

        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
            {
                var reference = Sape2ReferenceBias.Compute(Rows(q[bi, hi]), Rows(k[bi, hi]), gridHeight, gridWidth,
                    Rows(tableX), Rows(tableY), s, mode == Sape2Mode.Key);
                var expected = tensor(reference.Cast<double>().ToArray()).reshape(n, n);
                TensorAssert.AreClose(expected, bias[bi, hi], 1e-10, $"bias of sample {bi}, head {hi} on a {gridHeight}×{gridWidth} grid");
            }
    }

    [TestMethod]
    [DataRow(5, 5, Sape2Mode.Key, 3)]     // square path: every position scaled by 2/5
    [DataRow(3, 5, Sape2Mode.Query, 3)]   // rows scaled by 2/5, columns by 2/3
    [DataRow(14, 14, Sape2Mode.Key, 8)]   // a 7×7-trained table on the 14×14 grid of a 2× larger image
    public void InterpolatedPositionsMatchTheLoopReferenceAndNeverReachTheClamp(int gridHeight, int gridWidth, Sape2Mode mode, int tableSize)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(11);
        int b = 1, h = 2, d = 4, n = gridHeight * gridWidth;
        var q = randn(b, h, n, d, dtype: ScalarType.Float64) * 2;   // large logits: gates near 1, positions far past the table
        var k = randn(b, h, n, d, dtype: ScalarType.Float64) * 2;
        var tableX = randn(d, tableSize, dtype: ScalarType.Float64) * 0.5;
        var tableY = randn(d, tableSize, dtype: ScalarType.Float64) * 0.5;
        var clamped = new PositionClampCounter();
        var interpolated = new PositionClampCounter();
        var plain = Sape2Bias.Compute(q, k, gridHeight, gridWidth, tableX, tableY, 0.5, mode, interpolatePositions: false, clamped);
        var bias = Sape2Bias.Compute(q, k, gridHeight, gridWidth, tableX, tableY, 0.5, mode, interpolatePositions: true, interpolated);

        Assert.IsTrue(clamped.Reached > 0 && clamped.Total == interpolated.Total, $"{clamped.Reached} of {clamped.Total} clamped");
        Assert.AreEqual(0, interpolated.Reached, "Interpolated positions stay below the last table entry.");
        Assert.AreEqual((long)b * h * n * (gridHeight + gridWidth), clamped.Total, "one position per patch and row or column position");
        Assert.IsTrue((plain - bias).abs().max().item<double>() > 1e-3, "Interpolation changed nothing.");
        for (int hi = 0; hi < h; hi++)
        {
            var reference = Sape2ReferenceBias.Compute(Rows(q[0, hi]), Rows(k[0, hi]), gridHeight, gridWidth, Rows(tableX), Rows(tableY), 0.5,
                mode == Sape2Mode.Key, interpolatePositions: true);
            TensorAssert.AreClose(tensor(reference.Cast<double>().ToArray()).reshape(n, n), bias[0, hi], 1e-10, $"head {hi}");
        }
    }

    [TestMethod]
    [DataRow(6, 6)]
    [DataRow(4, 6)]
    public void ScoringWithoutGradientsGivesTheTrainingValuesBitForBit(int gridHeight, int gridWidth)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(13);
        int n = gridHeight * gridWidth, m = Math.Max(gridHeight, gridWidth) + 1;
        var q = randn(2, 2, n, 8).requires_grad_();
        var k = randn(2, 2, n, 8).requires_grad_();
        var (tableX, tableY) = (randn(8, m) * 0.1, randn(8, m) * 0.1);
        var training = Sape2Bias.Compute(q, k, gridHeight, gridWidth, tableX, tableY, 0.35, Sape2Mode.Key);
        Assert.IsTrue(training.requires_grad);
        Tensor scoring;
        using (no_grad()) scoring = Sape2Bias.Compute(q, k, gridHeight, gridWidth, tableX, tableY, 0.35, Sape2Mode.Key);
        Assert.IsTrue(scoring.eq(training).all().item<bool>(), "The distance without its gradient surrogate is the same value.");
    }

    [TestMethod]
    public void InterpolationLeavesAGridTheTableCoversAlone()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(12);
        var q = randn(2, 2, 49, 8);
        var k = randn(2, 2, 49, 8);
        var (tableX, tableY) = (randn(8, 8) * 0.1, randn(8, 8) * 0.1);   // M = 8 covers the 7×7 training grid
        var counter = new PositionClampCounter();
        var plain = Sape2Bias.Compute(q, k, 7, 7, tableX, tableY, 0.35, Sape2Mode.Key);
        var interpolated = Sape2Bias.Compute(q, k, 7, 7, tableX, tableY, 0.35, Sape2Mode.Key, interpolatePositions: true, counter);
        Assert.IsTrue(plain.eq(interpolated).all().item<bool>(), "On the training grid interpolation must not change a bit.");
        Assert.AreEqual(0, counter.Reached, "No position reaches M − 1 = 7 on a 7-wide grid unless every gate is exactly 1.");
    }

    [TestMethod]
    public void BiasIsSymmetricNonNegativeWithZeroDiagonal()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        var q = randn(3, 2, 12, 8);
        var k = randn(3, 2, 12, 8);
        var bias = Sape2Bias.Compute(q, k, 3, 4, randn(8, 5) * 0.1, randn(8, 5) * 0.1, 1 / Math.Sqrt(8), Sape2Mode.Key);
        TensorAssert.AreClose(bias, bias.transpose(-1, -2), 1e-6, "bias against its transpose");
        Assert.IsTrue(bias.min().item<float>() >= 0, "The bias has a negative entry.");
        TensorAssert.AreClose(zeros(3, 2, 12), bias.diagonal(0, -2, -1), 0, "bias diagonal");
    }

    [TestMethod]
    public void GradientsAreFiniteWhenPatchesCoincide()
    {
        using var scope = NewDisposeScope();
        // Identical patches (a flat background) make X_i = X_n: the distance is 0 off the diagonal too.
        var q = ones(1, 1, 4, 2, requires_grad: true);
        var k = ones(1, 1, 4, 2, requires_grad: true);
        var tableX = Matrix(GoldenEx, ScalarType.Float32).requires_grad_();
        var tableY = Matrix(GoldenEy, ScalarType.Float32).requires_grad_();
        var bias = Sape2Bias.Compute(q, k, 2, 2, tableX, tableY, 1 / Math.Sqrt(2), Sape2Mode.Key);
        TensorAssert.AreClose(zeros(1, 1, 4, 4), bias, 1e-6, "bias of identical patches");
        bias.sum().backward();
        foreach (var (t, name) in new[] { (q, "q"), (k, "k"), (tableX, "E_x"), (tableY, "E_y") })
        {
            Assert.IsNotNull(t.grad, $"{name} received no gradient.");
            TensorAssert.AllFinite(t.grad!, $"gradient of {name}");
        }
    }

    [TestMethod]
    [DataRow(Sape2Mode.Key, 2, 3)]
    [DataRow(Sape2Mode.Query, 2, 3)]
    [DataRow(Sape2Mode.Key, 3, 3)]     // the stacked square-grid path
    [DataRow(Sape2Mode.Query, 3, 3)]
    public void GradientsMatchFiniteDifferences(Sape2Mode mode, int gridHeight, int gridWidth)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(11);
        int h = 2, d = 3, n = gridHeight * gridWidth, m = 8;
        var inputs = new[]
        {
            randn(1, h, n, d, dtype: ScalarType.Float64), randn(1, h, n, d, dtype: ScalarType.Float64),
            randn(d, m, dtype: ScalarType.Float64), randn(d, m, dtype: ScalarType.Float64),
        };
        var weights = randn(1, h, n, n, dtype: ScalarType.Float64);   // a generic scalar loss Σ w·b
        Func<Tensor> loss = () => (Sape2Bias.Compute(inputs[0], inputs[1], gridHeight, gridWidth, inputs[2], inputs[3], 0.6, mode) * weights).sum();

        foreach (var t in inputs) t.requires_grad_();
        loss().backward();
        var analytic = inputs.Select(t => t.grad!.clone()).ToArray();

        string[] names = { "q", "k", "E_x", "E_y" };
        for (int which = 0; which < inputs.Length; which++)
            TensorAssert.AreClose(TensorAssert.FiniteDifferenceGradient(loss, inputs[which]), analytic[which], 1e-5,
                $"gradient of {names[which]}, {mode} mode");
    }

    [TestMethod]
    public void ClassTokenRowAndColumnOfTheBiasAreZero()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(5);
        var config = VitConfig.FromPreset(VitPreset.Micro, imageSize: 8, patchSize: 4);   // 2×2 grid, head width 32
        using var sape2 = new Sape2Attention(config);
        var grid = new PatchGrid(2, 2);
        var q = randn(2, 2, 5, 32);
        var k = randn(2, 2, 5, 32);
        double scale = 1 / Math.Sqrt(32);

        var logits = sape2.Logits(q, k, grid, prefixTokens: 1);
        var biasPart = logits - q.matmul(k.transpose(-2, -1)) * scale;                  // σ·b/√d, padded for the CLS token

        TensorAssert.AreClose(zeros(2, 2, 5), biasPart.select(2, 0), 1e-6, "CLS row of the bias");
        TensorAssert.AreClose(zeros(2, 2, 5), biasPart.select(3, 0), 1e-6, "CLS column of the bias");
        var patchBias = sape2.Bias(q, k, grid, prefixTokens: 1) * scale;
        TensorAssert.AreClose(patchBias, biasPart.narrow(2, 1, 4).narrow(3, 1, 4), 1e-5, "patch block of the bias");
        Assert.IsTrue(patchBias.abs().max().item<float>() > 1e-4, "The patch bias is zero, so the test proves nothing.");
    }

    [TestMethod]
    public void BadShapesAreRejectedWithTheirSizes()
    {
        using var scope = NewDisposeScope();
        var q = randn(1, 1, 4, 2);
        var table = randn(2, 4);
        var e = Assert.ThrowsExactly<ArgumentException>(() => Sape2Bias.Compute(q, q, 2, 3, table, table, 1, Sape2Mode.Key));
        StringAssert.Contains(e.Message, "2×3");
        e = Assert.ThrowsExactly<ArgumentException>(() => Sape2Bias.Compute(q, q, 2, 2, randn(3, 4), table, 1, Sape2Mode.Key));
        StringAssert.Contains(e.Message, "tableX");
        e = Assert.ThrowsExactly<ArgumentException>(() => Sape2Bias.Compute(q, randn(1, 1, 4, 3), 2, 2, table, table, 1, Sape2Mode.Key));
        StringAssert.Contains(e.Message, "key");
    }

    static double[][] Rows(Tensor matrix) =>
        Enumerable.Range(0, (int)matrix.shape[0]).Select(r => matrix[r].data<double>().ToArray()).ToArray();

    [TestMethod]
    public void BiasSignAndItsPlaceFollowEquation16()
    {
        // Eq. 16: a = (q·k + σ·b)/√d with σ = +1 (the paper) or −1; the "outside" option adds σ·b after the scaling.
        using var scope = NewDisposeScope();
        var config = VitConfig.FromPreset(VitPreset.Micro, imageSize: 12, patchSize: 4, inChannels: 1) with
        {
            PositionEncoding = PositionEncodingKind.Sape2,
        };
        var grid = new PatchGrid(3, 3);
        torch.manual_seed(5);
        var q = randn(2, config.NumHeads, 10, config.HeadDim);   // the CLS token, then 9 patches
        var k = randn(2, config.NumHeads, 10, config.HeadDim);
        Tensor Logits(double sign, bool inside)
        {
            torch.manual_seed(9);   // the same tables for every variant
            using var attention = new Sape2Attention(config with { Sape2BiasSign = sign, Sape2BiasInsideScale = inside });
            return attention.Logits(q, k, grid, prefixTokens: 1);
        }
        torch.manual_seed(9);
        using var reference = new Sape2Attention(config);
        var bias = nn.functional.pad(reference.Bias(q, k, grid, prefixTokens: 1), new long[] { 1, 0, 1, 0 });
        Assert.IsTrue(bias.abs().max().item<float>() > 1e-3, "The bias must be large enough to tell the variants apart.");
        var content = q.matmul(k.transpose(-2, -1));
        double scale = 1 / Math.Sqrt(config.HeadDim);
        TensorAssert.AreClose((content + bias) * scale, Logits(+1, inside: true), 1e-5, "σ = +1, inside the scale");
        TensorAssert.AreClose((content - bias) * scale, Logits(-1, inside: true), 1e-5, "σ = −1, inside the scale");
        TensorAssert.AreClose(content * scale + bias, Logits(+1, inside: false), 1e-5, "σ = +1, outside the scale");
        TensorAssert.AreClose(content * scale - bias, Logits(-1, inside: false), 1e-5, "σ = −1, outside the scale");
    }
}
