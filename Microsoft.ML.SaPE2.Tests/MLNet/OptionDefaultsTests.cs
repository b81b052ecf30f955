using System.Reflection;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.Tests.MLNet;

/// <summary>Issue 10.7: each default written once — Defaults holds every fixed-value default, and the layers agree with it.</summary>
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
    public void SharedDefaultsAreTheModelsAndTheEnginesOwn()
    {
        var vit = new VitConfig();
        var engine = new TrainingOptions();
        Assert.AreEqual((vit.PositionEncoding, vit.AbsolutePosition, vit.Sape2Mode), (Sape2ImageClassificationTrainer.Defaults.PositionEncoding,
            Sape2ImageClassificationTrainer.Defaults.AbsolutePosition, Sape2ImageClassificationTrainer.Defaults.Sape2Mode));
        Assert.AreEqual((engine.WeightDecay, engine.GradientClipNorm, engine.EmaDecay, engine.Device, engine.Threads),
            (Sape2ImageClassificationTrainer.Defaults.WeightDecay, Sape2ImageClassificationTrainer.Defaults.GradientClipNorm,
                Sape2ImageClassificationTrainer.Defaults.EmaDecay, Sape2ImageClassificationTrainer.Defaults.Device,
                Sape2ImageClassificationTrainer.Defaults.Threads));
    }
}
