using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>
/// The limit Docs/method.md states: E_x and E_y share one length M = max(H, W) + 1, so on a non-square training grid the short
/// axis never trains its upper entries, and on another grid neither the clamp nor interpolation keeps that axis within the
/// entries it trained.
/// </summary>
[TestClass]
public sealed class Sape2TableLengthTests
{
    // 8×16 images in 4-pixel patches: H = 2, W = 4, so M = 5; y positions (along a column of 2) never pass 2.
    private static VitConfig Wide(bool interpolate) =>
        VitConfig.FromPreset(VitPreset.Micro, imageSize: 8, patchSize: 4, inChannels: 1, numClasses: 2) with
        {
            ImageWidth = 16, PositionEncoding = PositionEncodingKind.Sape2, Sape2InterpolatePositions = interpolate,
        };

    private static Tensor Table(Sape2Attention sape2, string name) => sape2.named_parameters().Single(p => p.name == name).parameter;

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TheShortAxisTrainsOnlyItsLowerEntriesAndAnotherGridReadsTheRest(bool interpolate)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(12);
        var config = Wide(interpolate);
        Assert.AreEqual(5, config.EffectiveSape2TableSize, "M = max(2, 4) + 1");
        using var sape2 = new Sape2Attention(config);
        int d = config.HeadDim;
        var training = new PatchGrid(2, 4);
        var q = (randn(2, 2, 1 + training.Count, d) * 3).requires_grad_();   // large logits: gates near 0 and 1, every position reached
        var k = (randn(2, 2, 1 + training.Count, d) * 3).requires_grad_();
        sape2.Logits(q, k, training, prefixTokens: 1).pow(2).sum().backward();
        var tableY = Table(sape2, "tableY");
        var tableX = Table(sape2, "tableX");
        var yGradient = tableY.grad!.abs().sum(dim: 0);   // per entry
        var xGradient = tableX.grad!.abs().sum(dim: 0);
        Assert.IsTrue(yGradient.narrow(0, 0, 3).gt(0).all().item<bool>(), "E_y's entries 0–2 (reachable on a column of 2) train.");
        Assert.IsTrue(yGradient.narrow(0, 3, 2).eq(0).all().item<bool>(),
            $"E_y's entries 3–4 must get no gradient on a 2-row grid; got {yGradient.narrow(0, 3, 2).max().item<float>():G3}.");
        Assert.IsTrue(xGradient.narrow(0, 0, 4).gt(0).all().item<bool>(), "E_x's entries 0–3 train on rows of 4.");

        // Scored on the transposed grid (4×2), y positions run up to 4 and read entries 3–4, which kept their initial values:
        // neither the clamp (at M − 1 = 4) nor interpolation (scale min(1, 4/4) = 1) holds them back.
        var transposed = new PatchGrid(4, 2);
        using var noGrad = no_grad();
        var q2 = randn(1, 2, 1 + transposed.Count, d) * 3;
        var k2 = randn(1, 2, 1 + transposed.Count, d) * 3;
        var before = sape2.Logits(q2, k2, transposed, prefixTokens: 1);
        var onTraining = sape2.Logits(q, k, training, prefixTokens: 1);
        tableY.narrow(1, 3, 2).add_(1.0);   // change only the untrained entries
        var after = sape2.Logits(q2, k2, transposed, prefixTokens: 1);
        Assert.IsTrue((after - before).abs().max().item<float>() > 1e-3, "The transposed grid did not read E_y's untrained entries.");
        Assert.IsTrue(sape2.Logits(q, k, training, prefixTokens: 1).eq(onTraining).all().item<bool>(),
            "On the training grid the untrained entries must change nothing.");
    }
}
