using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

[TestClass]
public sealed class InitializationTests
{
    [TestMethod]
    public void TruncatedNormalHasTimmsMeaning()
    {
        // timm's trunc_normal_(w, std=.02): bounds ±2 absolute, ±100σ, so the spread is the std itself.
        using var scope = NewDisposeScope();
        torch.manual_seed(1);
        var t = empty(200_000);
        Initialization.TruncatedNormal(t, 0.02);
        Assert.AreEqual(0.02, t.std().ToDouble(), 2e-4, "standard deviation");
        Assert.AreEqual(0, t.mean().ToDouble(), 2e-4, "mean");
        Assert.IsTrue(t.abs().max().ToDouble() > 0.07, "a normal of 200,000 draws reaches beyond 3.5σ");

        // Bounds that do bite: ±2σ, whose truncated standard normal has standard deviation 0.8796.
        Initialization.TruncatedNormal(t, 0.02, lower: -0.04, upper: 0.04);
        Assert.AreEqual(0.02 * 0.8796, t.std().ToDouble(), 2e-4, "standard deviation within ±2σ");
        Assert.IsTrue(t.abs().max().ToDouble() <= 0.04 + 1e-7, "values beyond ±2σ");
        Assert.IsFalse(t.isnan().any().ToBoolean() || t.isinf().any().ToBoolean());
    }

    [TestMethod]
    public void ModelWeightsAreRandomNotConstant()
    {
        // Guards against TorchSharp 0.107's trunc_normal_, which fills with the constant std.
        using var model = new VisionTransformer(VitConfig.FromPreset(VitPreset.Micro));
        foreach (var (name, parameter) in model.named_parameters().Where(p => p.name.EndsWith("weight") && p.parameter.dim() >= 2))
            Assert.IsTrue(parameter.std().ToDouble() > 0.01, $"'{name}' has standard deviation {parameter.std().ToDouble()}; it was not randomly " +
                $"initialised.");
    }
}
