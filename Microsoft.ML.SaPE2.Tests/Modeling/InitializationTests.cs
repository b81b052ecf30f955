using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Modeling;

[TestClass]
public sealed class InitializationTests
{
    [TestMethod]
    public void TruncatedNormalHasTheRightSpreadAndBounds()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(1);
        var t = empty(200_000);
        Initialization.TruncatedNormal(t, 0.02);
        // A standard normal truncated at ±2 has standard deviation 0.8796.
        Assert.AreEqual(0.02 * 0.8796, t.std().ToDouble(), 2e-4, "standard deviation");
        Assert.AreEqual(0, t.mean().ToDouble(), 2e-4, "mean");
        Assert.IsTrue(t.abs().max().ToDouble() <= 0.04 + 1e-7, "values beyond ±2·std");
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
