using Microsoft.ML.SaPE2.AutoML;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>Each tuner proposes valid options; the grid covers its grid; cost-frugal starts at the default and moves.</summary>
[TestClass]
public sealed class TunerTests
{
    /// <summary>The default space with every knob but <paramref name="kept"/> fixed at its initial value.</summary>
    internal static Sape2SearchSpace Only(params string[] kept)
    {
        var space = Sape2SearchSpace.Create<Sape2TrialParameters>();
        foreach (var knob in space.Knobs.Where(k => !kept.Contains(k.Name)).ToList())
            space = space.With(new Sape2ChoiceKnob(knob.Name, new[] { knob.Default }, knob.Default));
        return space;
    }

    static Sape2TrialSettings Settings(Sape2SearchSpace space, int id) => new() { TrialId = id, SearchSpace = space };

    static Sape2TrialResult Scored(Sape2TrialParameters p, double loss) => new() { Parameters = p, Loss = loss, Metric = -loss };

    [TestMethod]
    public void RandomSearchProposesValidParametersRepeatablyFromItsSeed()
    {
        var space = Sape2SearchSpace.Create<Sape2TrialParameters>();
        var first = new Sape2RandomSearchTuner(7);
        var second = new Sape2RandomSearchTuner(7);
        var other = new Sape2RandomSearchTuner(8);
        for (int i = 0; i < 50; i++)
        {
            var p = first.Propose(Settings(space, i))!;
            Assert.AreEqual(space.ToJson(p), space.ToJson(second.Propose(Settings(space, i))!), "The same seed proposes the same.");
            Assert.IsTrue(p.LearningRate is >= 1e-4 and <= 1e-2 && p.WarmupFraction is >= 0 and <= 0.25, space.ToJson(p));
            var json = space.ToJson(p);
            Assert.AreEqual(json, space.ToJson(space.FromJson(json)));
            Assert.AreNotEqual(json, space.ToJson(other.Propose(Settings(space, i))!), "Another seed proposes otherwise.");
        }
    }

    [TestMethod]
    public void GridSearchProposesEveryPointOfItsGridOnceThenNothing()
    {
        var space = Only("PositionEncoding", "LearningRate", "AbsolutePosition");
        var tuner = new Sape2GridSearchTuner(stepsPerRange: 3);
        var proposed = new List<string>();
        for (Sape2TrialParameters? p; (p = tuner.Propose(Settings(space, proposed.Count))) is not null;)
            proposed.Add($"{p.PositionEncoding}|{p.LearningRate:G3}|{p.AbsolutePosition}");
        var expected = from e in Enum.GetValues<PositionEncodingKind>() from lr in new[] { 1e-4, 1e-3, 1e-2 } from ape in new[] { true, false }
                       select $"{e}|{lr:G3}|{ape}";
        Assert.AreEqual(7 * 3 * 2, proposed.Count);
        CollectionAssert.AreEquivalent(expected.ToList(), proposed);
        Assert.IsNull(tuner.Propose(Settings(space, proposed.Count)), "A covered grid proposes nothing more.");
    }

    [TestMethod]
    public void CostFrugalStartsAtTheDefaultAndMovesOnlyToBetterPoints()
    {
        var space = Only("LearningRate", "WeightDecay", "LabelSmoothing");
        var tuner = new Sape2CostFrugalTuner(3);
        var first = tuner.Propose(Settings(space, 1))!;
        Assert.AreEqual(space.ToJson(space.Default()), space.ToJson(first), "The first proposal is the cheap default.");
        tuner.Update(Scored(first, -0.50));
        var x0 = space.ToUnit(first);
        var second = tuner.Propose(Settings(space, 2))!;
        var x1 = space.ToUnit(second);
        double distance = Math.Sqrt(x0.Zip(x1).Sum(p => (p.First - p.Second) * (p.First - p.Second)));
        Assert.IsTrue(distance > 1e-6 && distance <= tuner.Step + 1e-9, $"A step of {distance} from the default (step {tuner.Step}).");
        tuner.Update(Scored(second, -0.40));                        // worse: the opposite direction comes next
        var third = tuner.Propose(Settings(space, 3))!;
        var x2 = space.ToUnit(third);
        for (int i = 0; i < x0.Length; i++)
            if (x1[i] is > 0 and < 1 && x2[i] is > 0 and < 1)
                Assert.AreEqual(x0[i] - (x1[i] - x0[i]), x2[i], 1e-9, "The opposite of the failed direction.");
        tuner.Update(Scored(third, -0.70));                         // better: it becomes the incumbent
        var fourth = space.ToUnit(tuner.Propose(Settings(space, 4))!);
        double fromNew = Math.Sqrt(x2.Zip(fourth).Sum(p => (p.First - p.Second) * (p.First - p.Second)));
        Assert.IsTrue(fromNew <= tuner.Step + 1e-9, "The search continues around the better point.");
        double step = tuner.Step;
        for (int i = 0; i < 40; i++) tuner.Update(Scored(tuner.Propose(Settings(space, 5 + i))!, 0));
        Assert.IsTrue(tuner.Step < step, "Failures shrink the step.");
    }

    [TestMethod]
    public void CostFrugalAdoptsABetterResultItDidNotPropose()
    {
        var space = Only("PositionEncoding", "LearningRate");
        var tuner = new Sape2CostFrugalTuner(1);
        var rope = space.Default();
        rope.PositionEncoding = PositionEncodingKind.RopeMixed;
        tuner.Update(Scored(space.Default(), -0.5));
        tuner.Update(Scored(rope, -0.8));                           // e.g. the experiment's trial with another encoding
        var proposals = Enumerable.Range(0, 3).Select(i => tuner.Propose(Settings(space, i))!).ToList();
        var next = space.ToUnit(proposals[0]);
        var center = space.ToUnit(rope);
        double distance = Math.Sqrt(center.Zip(next).Sum(p => (p.First - p.Second) * (p.First - p.Second)));
        Assert.IsTrue(distance <= tuner.Step + 1.0 / 7, $"The search moved to RopeMixed's point (distance {distance}).");
    }
}
