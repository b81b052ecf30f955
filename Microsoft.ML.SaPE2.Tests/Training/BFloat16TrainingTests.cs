using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using Microsoft.ML.SaPE2.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Training;

/// <summary>Bf16 mixed-precision training steps (<see cref="TrainingPrecision.BFloat16"/>), on the CPU.</summary>
[TestClass]
public sealed class BFloat16TrainingTests
{
    private static VitConfig Micro(PositionEncodingKind encoding, TokenizerKind tokenizer = TokenizerKind.Patch) =>
        VitConfig.FromPreset(VitPreset.Micro, imageSize: 16, patchSize: 4, inChannels: 3, numClasses: 4) with
        {
            PositionEncoding = encoding, Tokenizer = tokenizer,
        };

    private static (Tensor Images, Tensor Targets, Tensor Labels) Batch(int seed)
    {
        torch.manual_seed(seed);
        var labels = randint(4, 16);
        var images = randn(16, 3, 16, 16) + labels.view(16, 1, 1, 1).to(ScalarType.Float32);   // classes a network can tell apart
        return (images, nn.functional.one_hot(labels, 4).to(ScalarType.Float32), labels);
    }

    [TestMethod]
    [DataRow(PositionEncodingKind.Sape2, TokenizerKind.Patch)]
    [DataRow(PositionEncodingKind.Absolute, TokenizerKind.Convolutional)]
    [DataRow(PositionEncodingKind.Cope, TokenizerKind.Patch)]
    [DataRow(PositionEncodingKind.RopeMixed, TokenizerKind.Patch)]
    [DataRow(PositionEncodingKind.RopeAxial, TokenizerKind.Patch)]
    [DataRow(PositionEncodingKind.Sincos2D, TokenizerKind.Patch)]
    public void TheCopyComputesInBFloat16AndTheMasterStaysFloat32(PositionEncodingKind encoding, TokenizerKind tokenizer)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(1);
        using var model = new VisionTransformer(Micro(encoding, tokenizer));
        model.train();
        var before = model.parameters().Select(p => p.detach().clone()).ToList();
        using var step = new OptimizationStep(model, 1e-3, 0.05, 1.0, TrainingPrecision.BFloat16);
        var (images, targets, labels) = Batch(2);
        var (loss, _) = step.Run(images, targets, labels, 1e-3);

        Assert.IsTrue(double.IsFinite(loss), $"loss {loss}");
        Assert.IsTrue(model.parameters().All(p => p.dtype == ScalarType.Float32), "A master weight is not fp32.");
        Assert.IsTrue(model.parameters().Zip(before).Any(p => !p.First.eq(p.Second).all().item<bool>()), "The step changed no master weight.");
        var copy = new BFloat16Compute(model).Copy;   // a fresh copy rounds the same master the stepper's copy holds
        foreach (var (name, module) in copy.named_modules())
        {
            bool norm = module is LayerNorm or BatchNorm2d or RopeMixed;   // fp32 in the copy too
            foreach (var p in module.parameters(recurse: false))
                Assert.AreEqual(norm ? ScalarType.Float32 : ScalarType.BFloat16, p.dtype, $"{name}: {p.dtype}");
        }
        foreach (var (master, rounded) in model.parameters().Zip(copy.parameters()))
            Assert.IsTrue(master.to(rounded.dtype).eq(rounded).all().item<bool>(), "The copy is not the master rounded to its dtype.");
        copy.Dispose();
    }

    [TestMethod]
    public void BFloat16StepsFollowTheFloat32Steps()
    {
        // Same start, same batches: bf16 losses track fp32 ones to bf16's precision, and both learn.
        using var scope = NewDisposeScope();
        var losses = new Dictionary<TrainingPrecision, List<double>>();
        foreach (var precision in new[] { TrainingPrecision.Float32, TrainingPrecision.BFloat16 })
        {
            torch.manual_seed(3);
            using var model = new VisionTransformer(Micro(PositionEncodingKind.Sape2));
            model.train();
            using var step = new OptimizationStep(model, 2e-3, 0.05, 1.0, precision);
            losses[precision] = Enumerable.Range(0, 12).Select(i =>
            {
                var (images, targets, labels) = Batch(100 + i % 3);
                torch.manual_seed(7 + i);
                return step.Run(images, targets, labels, 2e-3).Loss;
            }).ToList();
        }
        var fp32 = losses[TrainingPrecision.Float32];
        var bf16 = losses[TrainingPrecision.BFloat16];
        for (int i = 0; i < fp32.Count; i++)
            Assert.AreEqual(fp32[i], bf16[i], 0.05 * fp32[i] + 0.02, $"step {i}: fp32 {fp32[i]:F4}, bf16 {bf16[i]:F4}");
        Assert.IsTrue(bf16[^1] < 0.8 * bf16[0], $"bf16 did not learn: {string.Join(", ", bf16.Select(l => l.ToString("F3")))}");
    }
}
