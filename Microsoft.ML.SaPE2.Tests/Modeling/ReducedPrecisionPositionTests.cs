using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using Microsoft.ML.SaPE2.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>
/// Under bf16 every encoding computes its positions in fp32: RoPE's coordinates and angles (bf16 holds whole numbers exactly only
/// up to 256, so half the coordinates of a 32×32 grid would be wrong) and CoPE's gates and suffix-sum positions (above 256 a bf16
/// sum has no fraction left to interpolate with). What is rounded to bf16 is the result only.
/// </summary>
[TestClass]
public sealed class ReducedPrecisionPositionTests
{
    private static readonly PatchGrid Grid32 = new(32, 32);

    public static IEnumerable<object[]> RotaryEncodings() => new object[][]
    {
        new object[] { PositionEncodingKind.RopeAxial }, new object[] { PositionEncodingKind.RopeMixed },
    };

    private static RotaryAttention Rotary(PositionEncodingKind kind, int headDim) => kind == PositionEncodingKind.RopeAxial
        ? new RopeAxial(headDim, Grid32)
        : new RopeMixed(numHeads: 2, headDim);

    [TestMethod]
    [DynamicData(nameof(RotaryEncodings))]
    public void BFloat16RotationsAt32By32AreTheFloat32OnesRounded(PositionEncodingKind kind)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        using var rope = Rotary(kind, headDim: 16);
        var wide = rope.RotationFor(Grid32);
        var narrow = rope.RotationFor(Grid32, ScalarType.BFloat16);
        Assert.AreEqual(ScalarType.BFloat16, narrow.dtype);
        Assert.IsTrue(narrow.eq(wide.to(ScalarType.BFloat16)).all().item<bool>(),
            $"{kind}: a bf16 rotation differs from the fp32 one rounded, by up to " +
            $"{(narrow.to(ScalarType.Float32) - wide).abs().max().item<float>():G3}");

        // The forward in bf16 rotates by exactly those: its logits are the bf16 product of the rotated bf16 q and k.
        var q = randn(1, 2, 1 + Grid32.Count, 16).to(ScalarType.BFloat16);
        var k = randn(1, 2, 1 + Grid32.Count, 16).to(ScalarType.BFloat16);
        var logits = rope.Logits(q, k, Grid32, prefixTokens: 1);
        var rotatedQ = RotaryAttention.Rotate(q, narrow[0], narrow[1], 1);
        var rotatedK = RotaryAttention.Rotate(k, narrow[0], narrow[1], 1);
        var expected = rotatedQ.matmul(rotatedK.transpose(-2, -1)).mul_(1.0 / Math.Sqrt(16));
        Assert.IsTrue(logits.eq(expected).all().item<bool>(), $"{kind}: the bf16 forward does not rotate by the rounded fp32 angles.");
    }

    [TestMethod]
    public void RopeMixedKeepsItsFrequenciesInFloat32InTheBFloat16Copy()
    {
        // Its learned frequencies make the angles (up to 31·f at 32×32): rounded to bf16 they would move an angle by 0.06 rad.
        using var scope = NewDisposeScope();
        var config = VitConfig.FromPreset(VitPreset.Micro, imageSize: 16, patchSize: 4, inChannels: 1, numClasses: 2) with
            { PositionEncoding = PositionEncodingKind.RopeMixed };
        using var model = new VisionTransformer(config);
        using var compute = new BFloat16Compute(model);
        var layers = compute.Copy.modules().OfType<RopeMixed>().ToList();
        Assert.AreEqual(config.Depth, layers.Count);
        foreach (var layer in layers)
            Assert.AreEqual(ScalarType.Float32, layer.parameters().Single().dtype, "RoPE-Mixed's frequencies in the bf16 copy");
    }

    [TestMethod]
    public void CopeBFloat16PositionsKeepTheirFractions()
    {
        // 32×32 patches: suffix sums up to 1,024, where bf16's spacing is 4. q, k and the table hold values whose products bf16
        // represents exactly (q, k in {−1, 0, 1}, head width 4 so 1/√d = 0.5, table entries in eighths), so the bf16 forward's
        // logits must be the fp32 forward's — unless its positions were rounded.
        using var scope = NewDisposeScope();
        torch.manual_seed(5);
        int d = 4;
        using var cope = new CopeAttention(d, Grid32.Count);
        var table = cope.parameters().Single();
        using (no_grad()) table.copy_(randint(-16, 17, new long[] { d, Grid32.Count + 1 }).to(ScalarType.Float32) / 8);
        var q = randint(-1, 2, new long[] { 1, 2, 1 + Grid32.Count, d }).to(ScalarType.BFloat16);
        var k = randint(-1, 2, new long[] { 1, 2, 1 + Grid32.Count, d }).to(ScalarType.BFloat16);

        Tensor reference;
        using (no_grad()) reference = cope.Logits(q.to(ScalarType.Float32), k.to(ScalarType.Float32), Grid32, prefixTokens: 1);
        var narrowQ = q.detach().requires_grad_();
        var reduced = cope.Logits(narrowQ, k, Grid32, prefixTokens: 1);
        Assert.AreEqual(ScalarType.Float32, reduced.dtype, "CoPE's logits from bf16 q and k are fp32, as SaPE²'s");
        double worst = (reduced - reference).abs().max().item<float>();
        double scale = reference.abs().max().item<float>();
        Assert.IsTrue(worst <= 1e-4 * scale, $"bf16 CoPE logits differ from fp32 ones by {worst:G3} (scale {scale:G3}): the positions " +
            "lost their fractions.");

        var gradient = torch.autograd.grad(new[] { (reduced * reference).sum() }, new[] { narrowQ })[0];
        Assert.AreEqual(ScalarType.BFloat16, gradient.dtype);
        TensorAssert.AllFinite(gradient, "gradient of q");
        Assert.IsTrue(gradient.abs().max().to(ScalarType.Float32).item<float>() > 0, "No gradient reached q.");
    }
}
