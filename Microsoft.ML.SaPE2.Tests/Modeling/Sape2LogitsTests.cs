using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>
/// The fused SaPE² logits (<see cref="Sape2Logits"/>, a hand-written backward) against the plain autograd form of the same
/// Eq. 9–16 (<see cref="Sape2Bias"/>, itself held to the golden vector, the loop reference and finite differences), in float64.
/// </summary>
[TestClass]
public sealed class Sape2LogitsTests
{
    /// <summary>One case: the grid, the prefix tokens, the options of Eq. 9–16 and the table size M.</summary>
    public sealed record Case(int Rows, int Cols, int Prefix, Sape2Mode Mode, double Sign, bool Inside, bool Interpolate, int TableSize,
        double GateScale);

    public static IEnumerable<object[]> Cases() => new Case[]
    {
        new(3, 3, 1, Sape2Mode.Key, +1, true, false, 4, 0),         // the spec's defaults on a square grid (x and y stacked)
        new(3, 3, 0, Sape2Mode.Query, -1, false, false, 4, 0.6),    // no prefix, query mode, σ = −1 outside the scale, own s
        new(2, 3, 1, Sape2Mode.Key, +1, true, false, 4, 0),         // rectangular: x and y as two groups
        new(3, 2, 2, Sape2Mode.Query, +1, false, false, 5, 0.6),
        new(3, 3, 1, Sape2Mode.Key, +1, true, false, 3, 0),         // a table smaller than the grid: positions reach the clamp
        new(4, 4, 1, Sape2Mode.Key, +1, true, true, 3, 0),          // interpolated positions
        new(2, 4, 1, Sape2Mode.Query, -1, true, true, 3, 0.6),
    }.Select(c => new object[] { c });

    private sealed record Inputs(Tensor Query, Tensor Key, Tensor TableX, Tensor TableY, Tensor Upstream);

    private static Inputs Random(Case c, int seed, int batch = 2, int heads = 2, int headDim = 4)
    {
        torch.manual_seed(seed);
        int t = c.Prefix + c.Rows * c.Cols;
        return new Inputs(randn(batch, heads, t, headDim, dtype: ScalarType.Float64), randn(batch, heads, t, headDim, dtype: ScalarType.Float64),
            randn(headDim, c.TableSize, dtype: ScalarType.Float64), randn(headDim, c.TableSize, dtype: ScalarType.Float64),
            randn(batch, heads, t, t, dtype: ScalarType.Float64));
    }

    private static Tensor Fused(Case c, Inputs x, PositionClampCounter? counter = null)
    {
        double gateScale = c.GateScale > 0 ? c.GateScale : 1 / Math.Sqrt(x.Query.shape[^1]);
        using var suffix = new FixedTableCache(PositionMath.SuffixOnes);
        return Sape2Logits.Compute(x.Query, x.Key, x.TableX, x.TableY, new Sape2Logits.Settings(new PatchGrid(c.Rows, c.Cols), c.TableSize,
            c.Prefix, gateScale, c.Mode, c.Sign, c.Inside, c.Interpolate, suffix, counter, new BackwardFailureSlot()));
    }

    private static (Tensor Fused, Tensor Plain) Logits(Case c, Inputs x, PositionClampCounter? counter = null)
    {
        double scale = 1 / Math.Sqrt(x.Query.shape[^1]);
        double gateScale = c.GateScale > 0 ? c.GateScale : scale;
        var grid = new PatchGrid(c.Rows, c.Cols);
        var fused = Fused(c, x, counter);
        var bias = Sape2Bias.Compute(x.Query.narrow(2, c.Prefix, grid.Count), x.Key.narrow(2, c.Prefix, grid.Count), c.Rows, c.Cols,
            x.TableX, x.TableY, gateScale, c.Mode, c.Interpolate, clampCounter: null);
        var padded = nn.functional.pad(bias, new long[] { c.Prefix, 0, c.Prefix, 0 });
        var content = x.Query.matmul(x.Key.transpose(-2, -1));
        var plain = c.Inside ? (content + c.Sign * padded) * scale : content * scale + c.Sign * padded;
        return (fused, plain);
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void ValuesAndGradientsMatchThePlainForm(Case c)
    {
        using var scope = NewDisposeScope();
        var x = Random(c, seed: 17);
        var parameters = new[] { x.Query, x.Key, x.TableX, x.TableY };
        foreach (var p in parameters) p.requires_grad_();
        var (fused, plain) = Logits(c, x);
        TensorAssert.AreClose(plain, fused, 1e-10, "logits");
        Assert.IsTrue((fused - x.Query.matmul(x.Key.transpose(-2, -1)) / Math.Sqrt(4)).abs().max().item<double>() > 1e-2,
            "The bias is too small for the comparison to test it.");

        var fusedGradients = torch.autograd.grad(new[] { (fused * x.Upstream).sum() }, parameters);
        var plainGradients = torch.autograd.grad(new[] { (plain * x.Upstream).sum() }, parameters);
        string[] names = { "q", "k", "E_x", "E_y" };
        for (int i = 0; i < names.Length; i++)
            TensorAssert.AreClose(plainGradients[i], fusedGradients[i], 1e-9, $"gradient of {names[i]}");
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void ScoringWithoutGradientsGivesTheTrainingValuesBitForBit(Case c)
    {
        using var scope = NewDisposeScope();
        var x = Random(c, seed: 5);
        Tensor scored;
        using (no_grad()) scored = Logits(c, x).Fused;
        foreach (var t in new[] { x.Query, x.Key, x.TableX, x.TableY }) t.requires_grad_();
        var trained = Logits(c, x).Fused;
        Assert.IsTrue(trained.requires_grad, "The training path was not taken.");
        Assert.IsTrue(trained.detach().eq(scored).all().item<bool>(), "Scoring and training logits differ.");
    }

    [TestMethod]
    public void IdenticalPatchesGiveFiniteGradientsEqualToThePlainForm()
    {
        // A flat background: every patch vector coincides, so the distance is 0 off the diagonal too (cdist's gradient is 0 there).
        using var scope = NewDisposeScope();
        var c = new Case(2, 2, 1, Sape2Mode.Key, +1, true, false, 3, 0);
        var x = Random(c, seed: 2) with { Query = ones(1, 1, 5, 4, dtype: ScalarType.Float64), Key = ones(1, 1, 5, 4, dtype: ScalarType.Float64),
            Upstream = randn(1, 1, 5, 5, dtype: ScalarType.Float64) };
        var parameters = new[] { x.Query, x.Key, x.TableX, x.TableY };
        foreach (var p in parameters) p.requires_grad_();
        var (fused, plain) = Logits(c, x);
        var fusedGradients = torch.autograd.grad(new[] { (fused * x.Upstream).sum() }, parameters);
        var plainGradients = torch.autograd.grad(new[] { (plain * x.Upstream).sum() }, parameters);
        for (int i = 0; i < parameters.Length; i++)
        {
            TensorAssert.AllFinite(fusedGradients[i], $"gradient {i}");
            TensorAssert.AreClose(plainGradients[i], fusedGradients[i], 1e-9, $"gradient {i}");
        }
    }

    [TestMethod]
    public void BFloat16InputsGiveFloat32LogitsAndInputTypedGradients()
    {
        // From bf16 q, k and tables only the two matmuls run in bf16; positions, distances and logits are fp32.
        using var scope = NewDisposeScope();
        var c = new Case(4, 4, 1, Sape2Mode.Key, +1, true, false, 5, 0);
        var x = Random(c, seed: 4, batch: 2, heads: 2, headDim: 8);
        static Tensor Rounded(Tensor t) => t.to(ScalarType.BFloat16).to(ScalarType.Float32);
        var wide = x with { Query = Rounded(x.Query), Key = Rounded(x.Key), TableX = Rounded(x.TableX), TableY = Rounded(x.TableY) };
        var narrow = wide with { Query = wide.Query.to(ScalarType.BFloat16), Key = wide.Key.to(ScalarType.BFloat16),
            TableX = wide.TableX.to(ScalarType.BFloat16), TableY = wide.TableY.to(ScalarType.BFloat16) };
        var inputs = new[] { narrow.Query, narrow.Key, narrow.TableX, narrow.TableY };
        foreach (var t in inputs) t.requires_grad_();
        var reduced = Fused(c, narrow);
        Tensor reference;
        using (no_grad()) reference = Fused(c, wide);
        Assert.AreEqual(ScalarType.Float32, reduced.dtype, "logits dtype");
        double scale = reference.abs().max().item<float>();
        TensorAssert.AreClose(reference, reduced, 0.02 * scale, "bf16 logits against fp32 ones on the same rounded inputs");
        var gradients = torch.autograd.grad(new[] { (reduced * x.Upstream.to(ScalarType.Float32)).sum() }, inputs);
        var wideInputs = new[] { wide.Query, wide.Key, wide.TableX, wide.TableY };
        foreach (var t in wideInputs) t.requires_grad_();
        var referenceGradients = torch.autograd.grad(new[] { (Fused(c, wide) * x.Upstream.to(ScalarType.Float32)).sum() }, wideInputs);
        foreach (var ((g, expected), name) in gradients.Zip(referenceGradients).Zip(new[] { "q", "k", "E_x", "E_y" }))
        {
            Assert.AreEqual(ScalarType.BFloat16, g.dtype, $"gradient of {name}");
            TensorAssert.AllFinite(g, $"gradient of {name}");
            // Values: what the two bf16 matmuls and the bf16 result can round, 2⁻⁸ of the largest entry a few times over.
            double gradientScale = expected.abs().max().item<float>();
            TensorAssert.AreClose(expected, g, 0.03 * gradientScale, $"bf16 gradient of {name} against fp32 on the same rounded inputs");
        }
    }

    /// <summary>Cases with everything on at once: a CLS token, a rectangular grid (x and y as two groups), σ = −1 outside the scale,
    /// an own gate scale, and either a table smaller than the grid (the clamp holds positions) or interpolated positions. The two
    /// cannot meet: interpolation scales every position into the table, so it leaves the clamp nothing to hold.</summary>
    public static IEnumerable<object[]> EverythingOn() => new Case[]
    {
        new(2, 3, 1, Sape2Mode.Key, -1, false, false, 2, 0.6),      // the clamp holds positions past the last entry, 1
        new(3, 2, 1, Sape2Mode.Query, -1, false, true, 2, 0.6),     // interpolation on both axes
    }.Select(c => new object[] { c });

    [TestMethod]
    [DynamicData(nameof(EverythingOn))]
    public void GradientsOfTheFusedFunctionMatchFiniteDifferences(Case c)
    {
        // The fused function on its own, against central differences in float64 (not only against the plain form).
        using var scope = NewDisposeScope();
        var x = Random(c, seed: 23, batch: 1, heads: 2, headDim: 3);
        var inputs = new[] { x.Query, x.Key, x.TableX, x.TableY };
        if (!c.Interpolate)
        {
            var counter = new PositionClampCounter();
            Fused(c, x, counter);
            Assert.IsTrue(counter.Reached > 0, "The clamp held no position: the case does not test it.");
        }
        Func<Tensor> loss = () => (Fused(c, x) * x.Upstream).sum();
        foreach (var t in inputs) t.requires_grad_();
        var analytic = torch.autograd.grad(new[] { loss() }, inputs);

        string[] names = { "q", "k", "E_x", "E_y" };
        for (int which = 0; which < inputs.Length; which++)
        {
            TensorAssert.AreClose(TensorAssert.FiniteDifferenceGradient(loss, inputs[which]), analytic[which], 1e-6, $"gradient of {names[which]}");
            Assert.IsTrue(analytic[which].abs().max().item<double>() > 1e-3, $"The gradient of {names[which]} is zero: nothing was tested.");
        }
    }

    [TestMethod]
    public void TheBackwardTakesBroadcastAndTransposedUpstreamGradients()
    {
        // autograd hands a backward whatever layout the next operation produced: an expanded (stride-0) gradient from a sum or a
        // broadcast, a transposed one from a transpose. Each must give the gradients of the same values laid out contiguously.
        using var scope = NewDisposeScope();
        var c = new Case(2, 3, 1, Sape2Mode.Key, +1, true, false, 3, 0);
        var x = Random(c, seed: 29);
        var inputs = new[] { x.Query, x.Key, x.TableX, x.TableY };
        foreach (var t in inputs) t.requires_grad_();
        long tokens = x.Upstream.shape[2];
        var upstreams = new (string Name, Tensor Gradient)[]
        {
            ("broadcast", randn(1, 1, 1, tokens, dtype: ScalarType.Float64).expand(2, 2, tokens, tokens)),
            ("transposed", x.Upstream.transpose(-1, -2)),
            ("scalar broadcast", ones(1, dtype: ScalarType.Float64).expand(2, 2, tokens, tokens)),
        };
        foreach (var (name, upstream) in upstreams)
        {
            Assert.IsFalse(upstream.is_contiguous(), $"{name}: the upstream gradient must not be contiguous for this test.");
            var fused = Fused(c, x);
            var given = torch.autograd.grad(new[] { fused }, inputs, new[] { upstream });
            var contiguous = torch.autograd.grad(new[] { Fused(c, x) }, inputs, new[] { upstream.contiguous() });
            for (int i = 0; i < inputs.Length; i++)
                TensorAssert.AreClose(contiguous[i], given[i], 1e-12, $"{name} upstream, gradient {i}");
            var plain = torch.autograd.grad(new[] { Logits(c, x).Plain }, inputs, new[] { upstream.contiguous() });
            for (int i = 0; i < inputs.Length; i++)
                TensorAssert.AreClose(plain[i], given[i], 1e-9, $"{name} upstream against the plain form, gradient {i}");
        }
    }

    [TestMethod]
    public void AFailingBackwardIsRaisedByTheCallerNotByTheProcess()
    {
        // libtorch calls the backward from native code, which a .NET exception cannot cross: the failure waits for the caller.
        using var scope = NewDisposeScope();
        var c = new Case(3, 3, 1, Sape2Mode.Key, +1, true, false, 4, 0);
        var x = Random(c, seed: 6);
        foreach (var t in new[] { x.Query, x.Key, x.TableX, x.TableY }) t.requires_grad_();
        int built = 0;
        var suffix = new FixedTableCache((device, dtype, size) => ++built == 1
            ? PositionMath.SuffixOnes(device, dtype, size)
            : throw new InvalidOperationException("no suffix matrix this time"));
        var failures = new BackwardFailureSlot();
        var logits = Sape2Logits.Compute(x.Query, x.Key, x.TableX, x.TableY, new Sape2Logits.Settings(new PatchGrid(3, 3), 4, 1, 0.5,
            Sape2Mode.Key, 1, true, false, suffix, null, failures));
        suffix.Dispose();   // the backward must build the matrix again, and that fails
        logits.sum().backward();
        var e = Assert.ThrowsExactly<InvalidOperationException>(failures.ThrowIfFailed);
        Assert.AreEqual("no suffix matrix this time", e.Message);
        failures.ThrowIfFailed();   // raised once
    }

    [TestMethod]
    public void ClampedPositionsAreCountedAsByThePlainForm()
    {
        using var scope = NewDisposeScope();
        var c = new Case(3, 3, 1, Sape2Mode.Key, +1, true, false, 3, 0);
        var x = Random(c, seed: 8);
        var fused = new PositionClampCounter();
        Logits(c, x, fused);
        var plain = new PositionClampCounter();
        Sape2Bias.Compute(x.Query.narrow(2, 1, 9), x.Key.narrow(2, 1, 9), 3, 3, x.TableX, x.TableY, 0.5, Sape2Mode.Key, false, plain);
        Assert.AreEqual(plain.Total, fused.Total, "positions counted");
        Assert.AreEqual(plain.Reached, fused.Reached, "positions at the clamp");
        Assert.IsTrue(fused.Reached > 0, "A table of 3 entries on a 3×3 grid must clamp some positions.");
    }
}
