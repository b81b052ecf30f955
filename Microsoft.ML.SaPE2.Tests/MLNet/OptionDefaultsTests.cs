using System.Reflection;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>Each default written once — Defaults holds every fixed-value default, and the layers agree with it.</summary>
[TestClass]
public sealed class OptionDefaultsTests
{
    [TestMethod]
    public void EveryFixedValueDefaultOfOptionsIsInDefaults()
    {
        var options = new Sape2ImageClassificationTrainer.Options();
        var defaults = typeof(Sape2ImageClassificationTrainer.Defaults).GetFields(BindingFlags.Public | BindingFlags.Static)
            .ToDictionary(f => f.Name, f => f.GetValue(null));
        var settings = typeof(Sape2ImageClassificationTrainer.Options).GetFields(BindingFlags.Public | BindingFlags.Instance)
            .Where(f => f.GetValue(options) is not (null or CancellationToken))   // null: chosen by the automatic recipe at Fit
            .ToList();
        Assert.IsTrue(settings.Count >= 18, $"Only {settings.Count} fixed-value options found.");
        foreach (var field in settings)
        {
            Assert.IsTrue(defaults.ContainsKey(field.Name), $"Defaults has no {field.Name}.");
            Assert.AreEqual(defaults[field.Name], field.GetValue(options), field.Name);
        }
    }

    [TestMethod]
    public void TheOptionsReachTheModelAndTheEngineAsSet()
    {
        var recipe = AutoRecipe.Choose(trainingImages: 3000, imageHeight: 28, imageWidth: 28, channels: 1, cuda: false);
        var format = new ImageFormat { Height = 28, Width = 28, Channels = 1 };
        var defaults = new Sape2ImageClassificationTrainer.Options();
        var vit = Sape2ImageClassificationTrainer.Architecture(defaults, format, recipe, numClasses: 10);
        var engine = Sape2ImageClassificationTrainer.Training(defaults, recipe, seed: 0, timeLimit: null);
        Assert.AreEqual((PositionEncodingKind.Sape2, true, Sape2Mode.Key, 1.0), (vit.PositionEncoding, vit.AbsolutePosition, vit.Sape2Mode,
            vit.Sape2BiasSign), "the documented defaults: SaPE²+APE, K mode, σ = +1");
        Assert.AreEqual((0.05, 1.0, 0.0, "auto", 0), (engine.WeightDecay, engine.GradientClipNorm, engine.EmaDecay, engine.Device,
            engine.Threads), "the documented defaults: AdamW 0.05, clipping at 1, no EMA, automatic device, a thread per core");

        var changed = new Sape2ImageClassificationTrainer.Options
        {
            PositionEncoding = PositionEncodingKind.Cope, AbsolutePosition = false, Sape2Mode = Sape2Mode.Query, Sape2BiasSign = -1,
            Pooling = PoolingKind.ClassToken, WeightDecay = 0.1, GradientClipNorm = 0, EmaDecay = 0.99, Device = "cpu", Threads = 1,
        };
        vit = Sape2ImageClassificationTrainer.Architecture(changed, format, recipe, numClasses: 10);
        engine = Sape2ImageClassificationTrainer.Training(changed, recipe, seed: 0, timeLimit: null);
        Assert.AreEqual((PositionEncodingKind.Cope, false, Sape2Mode.Query, -1.0, PoolingKind.ClassToken), (vit.PositionEncoding,
            vit.AbsolutePosition, vit.Sape2Mode, vit.Sape2BiasSign, vit.Pooling));
        Assert.AreEqual((0.1, 0.0, 0.99, "cpu", 1), (engine.WeightDecay, engine.GradientClipNorm, engine.EmaDecay, engine.Device,
            engine.Threads));
        var refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MLContext().MulticlassClassification.Trainers
            .Sape2ImageClassification(new Sape2ImageClassificationTrainer.Options { Sape2BiasSign = 0.5 }));
        StringAssert.Contains(refused.Message, "Sape2BiasSign");
    }
}
