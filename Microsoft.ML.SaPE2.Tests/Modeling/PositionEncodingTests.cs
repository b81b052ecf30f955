using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

[TestClass]
public sealed class PositionEncodingTests
{
    [TestMethod]
    public void FixedTablesBuiltOnceGiveTheSameLogitsAndEmbeddingsAsBuiltEveryTime()
    {
        using var scope = torch.NewDisposeScope();
        var grid = new PatchGrid(4, 4);
        var q = torch.randn(2, 2, 17, 8);
        var k = torch.randn(2, 2, 17, 8);
        using var cachedRope = new RopeAxial(8, grid);
        using var freshRope = new RopeAxial(8);
        for (int call = 0; call < 2; call++)
            TensorAssert.AreClose(freshRope.Logits(q, k, grid, 1), cachedRope.Logits(q, k, grid, 1), 0, $"RoPE-Axial logits, call {call + 1}");
        var other = new PatchGrid(2, 8);   // another resolution: computed for it
        TensorAssert.AreClose(freshRope.Logits(q, k, other, 1), cachedRope.Logits(q, k, other, 1), 0, "RoPE-Axial at another grid");
        using var cachedSincos = new Sincos2DPositionEmbedding(8, grid);
        using var freshSincos = new Sincos2DPositionEmbedding(8);
        var tokens = torch.randn(2, 17, 8);
        for (int call = 0; call < 2; call++)
            TensorAssert.AreClose(freshSincos.Encode(tokens, grid, 1), cachedSincos.Encode(tokens, grid, 1), 0, $"sin-cos, call {call + 1}");
        Assert.AreEqual(0, cachedSincos.state_dict().Count, "A fixed table is not a weight: model files do not change.");
    }

    [TestMethod]
    [DataRow(PositionEncodingKind.RopeAxial)]
    [DataRow(PositionEncodingKind.RopeMixed)]
    public void RopeScoreDependsOnlyOnTheOffset(PositionEncodingKind kind)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(1);
        var config = VitConfig.FromPreset(VitPreset.Micro, imageSize: 24, patchSize: 4) with { PositionEncoding = kind };   // 6×6 grid
        using var rope = (RotaryAttention)PositionEncodingFactory.CreateAttentionEncoding(config);
        var grid = new PatchGrid(6, 6);
        // The same query vector at every patch and the same key vector at every patch: only positions differ.
        var q = randn(1, config.NumHeads, 1, config.HeadDim).expand(1, config.NumHeads, 36, config.HeadDim);
        var k = randn(1, config.NumHeads, 1, config.HeadDim).expand(1, config.NumHeads, 36, config.HeadDim);
        var logits = rope.Logits(q, k, grid, prefixTokens: 0);                        // (1, h, 36, 36)

        // (row 1, col 1) → (row 3, col 4) and (row 2, col 0) → (row 4, col 3): the same offset (+2, +3).
        var a = logits[0, .., 1 * 6 + 1, 3 * 6 + 4];
        var b = logits[0, .., 2 * 6 + 0, 4 * 6 + 3];
        TensorAssert.AreClose(a, b, 1e-5, $"{kind} scores of two pairs with the same offset");
        // A different offset gives a different score, so the rotation is really there.
        var c = logits[0, .., 1 * 6 + 1, 3 * 6 + 5];
        Assert.IsTrue((a - c).abs().max().item<float>() > 1e-4, $"{kind} scores do not change with the offset.");
    }

    [TestMethod]
    public void RopeLeavesTheClassTokenUnrotated()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 5, 8);
        var angles = rand(4, 4) * 6;
        var rotated = RotaryAttention.Rotate(x, angles, prefixTokens: 1);
        TensorAssert.AreClose(x.select(2, 0), rotated.select(2, 0), 0, "CLS token after rotation");
        TensorAssert.AreClose(x.narrow(2, 1, 4).norm(-1), rotated.narrow(2, 1, 4).norm(-1), 1e-5, "norms of rotated patch tokens");
    }

    [TestMethod]
    public void CopeWithAllGatesOpenGivesIntegerSuffixCounts()
    {
        using var scope = NewDisposeScope();
        var positions = CopeAttention.Positions(ones(1, 1, 5, 5), maxPosition: 5);
        var expected = tensor(new float[] { 5, 4, 3, 2, 1 }).expand(1, 1, 5, 5);
        TensorAssert.AreClose(expected, positions, 0, "CoPE positions with gates forced to 1");
        var clamped = CopeAttention.Positions(ones(1, 1, 5, 5), maxPosition: 3);
        TensorAssert.AreClose(tensor(new float[] { 3, 3, 3, 2, 1 }).expand(1, 1, 5, 5), clamped, 0, "CoPE positions clamped at 3");
    }

    [TestMethod]
    public void CopeStartsAsContentOnlyAttention()
    {
        using var scope = NewDisposeScope();
        using var cope = new CopeAttention(headDim: 8, patchCount: 4);
        var q = randn(1, 2, 5, 8);
        var k = randn(1, 2, 5, 8);
        var expected = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(8);
        TensorAssert.AreClose(expected, cope.Logits(q, k, new PatchGrid(2, 2), prefixTokens: 1), 1e-6, "CoPE logits with its zero table");
    }

    [TestMethod]
    [DataRow(6)]   // the training grid's table: positions stay below its last entry
    [DataRow(3)]   // a table for 3 patches on a 6-patch grid (a larger image): positions clamp at 3
    public void CopeMatchesALoopReferenceWithATableAndTheClassToken(int tablePatches)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(4);
        int heads = 2, d = 4, n = 6, tokens = n + 1;
        var grid = new PatchGrid(2, 3);
        using var cope = new CopeAttention(d, tablePatches);
        cope.to(ScalarType.Float64);
        var table = cope.parameters().Single();
        using (no_grad()) table.copy_(randn(d, tablePatches + 1, dtype: ScalarType.Float64));
        var q = randn(1, heads, tokens, d, dtype: ScalarType.Float64);
        var k = randn(1, heads, tokens, d, dtype: ScalarType.Float64);
        var logits = cope.Logits(q, k, grid, prefixTokens: 1);

        double Dot(Tensor a, Tensor b) => (a * b).sum().item<double>();
        double Logit(int h, int i, int t) => Dot(q[0, h, i], table[.., t]);
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < tokens; i++)
                for (int j = 0; j < tokens; j++)
                {
                    double expected = Dot(q[0, h, i], k[0, h, j]) / Math.Sqrt(d);
                    if (i > 0 && j > 0)   // patch pairs; the CLS row and column keep the plain logit
                    {
                        double position = 0;   // p_ij = Σ_{j' ≥ j} sigmoid(q_i·k_j'/√d) over the patches j' of i's sequence
                        for (int other = j; other < tokens; other++) position += 1 / (1 + Math.Exp(-Dot(q[0, h, i], k[0, h, other]) / Math.Sqrt(d)));
                        position = Math.Min(position, tablePatches);
                        int floor = (int)Math.Floor(position), ceil = (int)Math.Ceiling(position);
                        double w = position - floor;
                        expected += w * Logit(h, i, ceil) + (1 - w) * Logit(h, i, floor);
                    }
                    Assert.AreEqual(expected, logits[0, h, i, j].item<double>(), 1e-10, $"logit ({h}, {i}, {j})");
                }
    }

    [TestMethod]
    public void RopeAxialRotatesByTheGoldenAngles()
    {
        // d = 8: four channel pairs, frequencies 100^(−4k/8) = 1 and 0.1; pairs 0–1 rotate by x·ω, pairs 2–3 by y·ω.
        // With q and k a unit vector in one pair, the rotated q·k is cos(θ_i − θ_j).
        using var scope = NewDisposeScope();
        using var rope = new RopeAxial(8);
        var grid = new PatchGrid(2, 3);   // patch index = 3·y + x
        double Score(int pair, int i, int j)
        {
            var unit = zeros(1, 1, 6, 8);
            unit[0, 0, .., 2 * pair] = 1;
            return rope.Logits(unit, unit, grid, prefixTokens: 0)[0, 0, i, j].item<float>() * Math.Sqrt(8);
        }
        Assert.AreEqual(Math.Cos(2 * 1.0), Score(0, 2, 0), 1e-6, "pair 0: x = 2 against x = 0, ω = 1");
        Assert.AreEqual(Math.Cos(2 * 0.1), Score(1, 2, 0), 1e-6, "pair 1: x = 2 against x = 0, ω = 0.1");
        Assert.AreEqual(1.0, Score(1, 3, 0), 1e-6, "pair 1 ignores y: (0, 1) against (0, 0)");
        Assert.AreEqual(Math.Cos(1.0), Score(2, 3, 0), 1e-6, "pair 2: y = 1 against y = 0, ω = 1");
        Assert.AreEqual(Math.Cos(0.1), Score(3, 5, 2), 1e-6, "pair 3: y = 1 against y = 0, ω = 0.1");
        Assert.AreEqual(1.0, Score(2, 2, 0), 1e-6, "pair 2 ignores x");
    }

    [TestMethod]
    public void RopeMixedStartsWithRopeVitsFrequencies()
    {
        // rope-vit's init_random_2d_freqs, θ = 10, d = 8: magnitudes 10^(−4k/8) = 1 and 0.3162 for each half; per head a random
        // direction φ for the first half and φ + π/2 for the second: f_x = mag·cos, f_y = mag·sin.
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        using var rope = new RopeMixed(numHeads: 3, headDim: 8);
        var frequencies = rope.named_parameters().Single(p => p.name == RopeMixed.FrequenciesName).parameter;   // (2, heads, d/2)
        CollectionAssert.AreEqual(new long[] { 2, 3, 4 }, frequencies.shape);
        var magnitudes = new[] { 1.0, Math.Pow(10, -0.5) };
        var directions = new HashSet<double>();
        for (int h = 0; h < 3; h++)
        {
            double Angle(int pair) => Math.Atan2(frequencies[1, h, pair].item<float>(), frequencies[0, h, pair].item<float>());
            for (int pair = 0; pair < 4; pair++)
            {
                double fx = frequencies[0, h, pair].item<float>(), fy = frequencies[1, h, pair].item<float>();
                Assert.AreEqual(magnitudes[pair % 2], Math.Sqrt(fx * fx + fy * fy), 1e-6, $"head {h}, pair {pair}: magnitude");
                int firstOfHalf = pair < 2 ? 0 : 2;
                Assert.AreEqual(Angle(firstOfHalf), Angle(pair), 1e-5, $"head {h}, pair {pair}: one direction per half");
            }
            double turn = Math.IEEERemainder(Angle(2) - Angle(0), 2 * Math.PI);
            Assert.AreEqual(Math.PI / 2, turn, 1e-5, $"head {h}: the second half turns by π/2");
            directions.Add(Math.Round(Angle(0), 4));
        }
        Assert.AreEqual(3, directions.Count, "Each head draws its own direction.");
    }

    [TestMethod]
    public void Sincos2DHasMaeValues()
    {
        using var scope = NewDisposeScope();
        var table = Sincos2DPositionEmbedding.Table(new PatchGrid(2, 3), embedDim: 8);   // x: channels 0–3, y: channels 4–7
        Assert.AreEqual(6L, table.shape[0]);
        // Patch 5 is row 1, column 2. Per axis (D = 4): ω = [1, 1/100]; [sin(p·ω0), sin(p·ω1), cos(p·ω0), cos(p·ω1)].
        double[] expected =
        {
            Math.Sin(2), Math.Sin(0.02), Math.Cos(2), Math.Cos(0.02),
            Math.Sin(1), Math.Sin(0.01), Math.Cos(1), Math.Cos(0.01),
        };
        TensorAssert.AreClose(tensor(expected), table[5], 1e-6, "sin-cos embedding of patch (1, 2)");
        TensorAssert.AreClose(tensor(new double[] { 0, 0, 1, 1, 0, 0, 1, 1 }), table[0], 1e-7, "sin-cos embedding of patch (0, 0)");
    }

    [TestMethod]
    public void Sincos2DLeavesTheClassTokenAlone()
    {
        using var scope = NewDisposeScope();
        using var sincos = new Sincos2DPositionEmbedding(8);
        var tokens = randn(2, 7, 8);
        var encoded = sincos.Encode(tokens, new PatchGrid(2, 3), prefixTokens: 1);
        TensorAssert.AreClose(tokens.select(1, 0), encoded.select(1, 0), 0, "CLS token");
        TensorAssert.AreClose(Sincos2DPositionEmbedding.Table(new PatchGrid(2, 3), 8).expand(2, 6, 8),
            encoded.narrow(1, 1, 6) - tokens.narrow(1, 1, 6), 1e-6, "added patch embedding");
    }

    [TestMethod]
    public void AbsoluteEmbeddingResizesOnlyThePatchPart()
    {
        using var scope = NewDisposeScope();
        using var ape = new AbsolutePositionEmbedding(embedDim: 4, new PatchGrid(2, 2), prefixTokens: 1);
        var same = ape.Encode(zeros(1, 5, 4), new PatchGrid(2, 2), 1);
        var larger = ape.Encode(zeros(1, 17, 4), new PatchGrid(4, 4), 1);
        TensorAssert.AreClose(same.select(1, 0), larger.select(1, 0), 0, "the CLS row after resizing");
        Assert.AreEqual(17L, larger.shape[1]);
        var wrongPrefix = Assert.ThrowsExactly<ArgumentException>(() => ape.Encode(zeros(1, 4, 4), new PatchGrid(2, 2), 0));
        StringAssert.Contains(wrongPrefix.Message, "prefix");
    }

    [TestMethod]
    [DataRow(PositionEncodingKind.None, false, false)]
    [DataRow(PositionEncodingKind.Absolute, false, true)]
    [DataRow(PositionEncodingKind.Sincos2D, true, false)]
    [DataRow(PositionEncodingKind.Sape2, true, true)]
    [DataRow(PositionEncodingKind.Sape2, false, false)]
    [DataRow(PositionEncodingKind.Cope, true, true)]
    [DataRow(PositionEncodingKind.RopeMixed, true, true)]
    public void AbsoluteEmbeddingCombinesAsTheSpecSays(PositionEncodingKind kind, bool absolutePosition, bool expected)
    {
        var config = new VitConfig { PositionEncoding = kind, AbsolutePosition = absolutePosition };
        Assert.AreEqual(expected, PositionEncodingFactory.UsesAbsoluteEmbedding(config), $"{kind} with AbsolutePosition={absolutePosition}");
    }

    [TestMethod]
    public void DefaultsFollowTheSpecDecisionTable()
    {
        var config = new VitConfig();
        Assert.AreEqual(PositionEncodingKind.Sape2, config.PositionEncoding);
        Assert.AreEqual(Sape2Mode.Key, config.Sape2Mode);
        Assert.IsTrue(config.AbsolutePosition, "APE must be on by default (SaPE²+APE is the paper's best row).");
        Assert.AreEqual(PoolingKind.ClassToken, config.Pooling);
        Assert.AreEqual(1.0, config.Sape2BiasSign);
        Assert.IsTrue(config.Sape2BiasInsideScale);
        Assert.AreEqual(9, config.EffectiveSape2TableSize, "M = max(H, W) + 1 of the 8×8 training grid.");
        Assert.AreEqual(1 / Math.Sqrt(64), config.EffectiveSape2GateScale, 1e-12);
    }
}
