using Microsoft.ML.SaPE2.AutoML;
using Microsoft.ML.SearchSpace;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>The search space is read from ML.NET's attributes and round-trips through the tuners' unit cube.</summary>
[TestClass]
public sealed class SearchSpaceTests
{
    /// <summary>A user's narrower space, written as an ML.NET AutoML user writes one.</summary>
    public sealed class NarrowLearningRate : Sape2TrialParameters
    {
        [Range(1e-3, 2e-3, 1.5e-3, logBase: true)]
        public override double LearningRate { get; set; } = 1.5e-3;
    }

    [TestMethod]
    public void EveryAttributedPropertyIsAKnobWithTheAttributesRangeAndInitialValue()
    {
        var space = Sape2SearchSpace.Create<Sape2TrialParameters>();
        CollectionAssert.AreEqual(new[] { "PositionEncoding", "AbsolutePosition", "Sape2Mode", "LearningRate", "WeightDecay", "WarmupFraction",
            "LabelSmoothing", "Augmentation", "RandAugmentMagnitude", "MixProbability", "DropPathRate", "PatchSize", "Preset", "EmaDecay",
            "BackboneLearningRateScale" },
            space.Knobs.Select(k => k.Name).ToArray());
        var lr = (Sape2RangeKnob)space.Knobs.Single(k => k.Name == "LearningRate");
        Assert.AreEqual((1e-4, 1e-2, 3e-3, true), (lr.Min, lr.Max, lr.Init, lr.LogBase));
        var encodings = (Sape2ChoiceKnob)space.Knobs[0];
        Assert.AreEqual(PositionEncodingKind.Sape2, encodings.Choices[0], "SaPE² comes first.");
        Assert.AreEqual(Enum.GetValues<PositionEncodingKind>().Length, encodings.Choices.Count, "Every encoding the library has.");
        var defaults = space.Default();
        Assert.AreEqual(space.ToJson(new Sape2TrialParameters()), space.ToJson(defaults), "Trial 0 is the class's initial values.");
    }

    [TestMethod]
    public void DocsAutomlListsEveryKnobWithItsRange()
    {
        string doc = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "Docs", "automl.md"));
        foreach (var knob in Sape2SearchSpace.ForDevice(cuda: false).Knobs)
            StringAssert.Contains(doc, $"| `{knob.Name}` | {knob.Describe()} |", $"Docs/automl.md does not list {knob.Name} as the code has it.");
    }

    [TestMethod]
    public void PointsOfTheUnitCubeRoundTripThroughParametersAndJson()
    {
        var space = Sape2SearchSpace.Create<Sape2TrialParameters>();
        var random = new Random(5);
        for (int i = 0; i < 200; i++)
        {
            var parameters = space.FromUnit(Enumerable.Range(0, space.Dimension).Select(_ => random.NextDouble()).ToArray());
            var point = space.ToUnit(parameters);
            var again = space.ToUnit(space.FromUnit(point));
            for (int k = 0; k < point.Length; k++)
                Assert.AreEqual(point[k], again[k], 1e-9, $"{space.Knobs[k].Name}: FromUnit(ToUnit(p)) must give p back.");
            Assert.AreEqual(space.ToJson(parameters), space.ToJson(space.FromJson(space.ToJson(parameters))));
            foreach (var knob in space.Knobs)
            {
                object value = space.ValueOf(parameters, knob.Name);
                if (knob is Sape2RangeKnob range)
                    Assert.IsTrue(Convert.ToDouble(value) >= range.Min && Convert.ToDouble(value) <= range.Max, $"{knob.Name} = {value}");
                else
                    CollectionAssert.Contains(((Sape2ChoiceKnob)knob).Choices.ToList(), value, knob.Name);
            }
        }
        Assert.AreEqual(1e-4, space.FromUnit(Enumerable.Repeat(0.0, space.Dimension).ToArray()).LearningRate, 1e-12);
        Assert.AreEqual(1e-3, space.FromUnit(Enumerable.Repeat(0.5, space.Dimension).ToArray()).LearningRate, 1e-9, "log scale: the middle is 1e-3");
    }

    [TestMethod]
    public void ADerivedClassNarrowsARangeWithItsOwnAttribute()
    {
        var space = Sape2SearchSpace.Create<NarrowLearningRate>();
        var lr = (Sape2RangeKnob)space.Knobs.Single(k => k.Name == "LearningRate");
        Assert.AreEqual((1e-3, 2e-3), (lr.Min, lr.Max));
        Assert.IsInstanceOfType<NarrowLearningRate>(space.Default());
        Assert.AreEqual(1.5e-3, space.Default().LearningRate);
        Assert.AreEqual(15, space.Dimension);
    }

    [TestMethod]
    public void TheDefaultSpaceIsSizedByDeviceAndKnobsAreReplacedOnlyByName()
    {
        var cpu = (Sape2ChoiceKnob)Sape2SearchSpace.ForDevice(cuda: false).Knobs.Single(k => k.Name == "Preset");
        var gpu = (Sape2ChoiceKnob)Sape2SearchSpace.ForDevice(cuda: true).Knobs.Single(k => k.Name == "Preset");
        CollectionAssert.AreEqual(new object[] { VitPreset.Micro }, cpu.Choices.ToArray());
        CollectionAssert.AreEqual(new object[] { VitPreset.Tiny, VitPreset.Small }, gpu.Choices.ToArray());
        var space = Sape2SearchSpace.ForDevice(cuda: false);
        var unknown = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => space.With(new Sape2ChoiceKnob("Epochs", new object[] { 1 }, 1)));
        StringAssert.Contains(unknown.Message, "no knob 'Epochs'");
        var wrongType = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => space.With(new Sape2ChoiceKnob("Preset", new object[] { "Tiny" }, "Tiny")));
        StringAssert.Contains(wrongType.Message, "VitPreset");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Sape2RangeKnob("LearningRate", 0, 1, 0.5, logBase: true, typeof(double)));
    }
}

/// <summary>Nothing here clashes with Microsoft.ML.AutoML when a program imports both.</summary>
[TestClass]
public sealed class AutoMLNamingTests
{
    [TestMethod]
    public void NoTypeOrExtensionMethodTakesAMicrosoftMLAutoMLName()
    {
        var taken = new[] { "AutoCatalog", "TrialResult", "TrialSettings", "IMonitor", "ITuner", "SearchSpace", "AutoMLExperiment" };
        var types = typeof(Sape2Experiment).Assembly.GetExportedTypes();
        CollectionAssert.AreEqual(Array.Empty<string>(), types.Where(t => taken.Contains(t.Name)).Select(t => t.FullName).ToArray());
        var extensions = types.SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            .Where(m => m.IsDefined(typeof(System.Runtime.CompilerServices.ExtensionAttribute), false)).Select(m => m.Name).ToList();
        CollectionAssert.DoesNotContain(extensions, "Auto");
        CollectionAssert.Contains(extensions, "Sape2Auto");
        Assert.AreEqual("Microsoft.ML.SaPE2.AutoML", typeof(Sape2Experiment).Namespace);
    }
}
