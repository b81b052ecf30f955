using Microsoft.ML.SaPE2.AutoML;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>The ASHA rule on synthetic learning curves, no training needed.</summary>
[TestClass]
public sealed class AshaRuleTests
{
    [TestMethod]
    public void RungsAreFirstRungTimesEtaToThePowerKBelowR()
    {
        CollectionAssert.AreEqual(new[] { 2, 6 }, new AshaRule(new Sape2AshaOptions(), 17).Rungs.ToArray());
        CollectionAssert.AreEqual(new[] { 12, 36 }, new AshaRule(new Sape2AshaOptions(), 100).Rungs.ToArray());
        CollectionAssert.AreEqual(new[] { 1, 3, 9 }, new AshaRule(new Sape2AshaOptions { FirstRungEpochs = 1 }, 10).Rungs.ToArray());
        CollectionAssert.AreEqual(new[] { 2, 8 }, new AshaRule(new Sape2AshaOptions { ReductionFactor = 4 }, 17).Rungs.ToArray());
        Assert.AreEqual(0, new AshaRule(new Sape2AshaOptions(), 2).Rungs.Count, "Two epochs leave no rung below R.");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new AshaRule(new Sape2AshaOptions { ReductionFactor = 1 }, 10));
    }

    [TestMethod]
    public void ATrialGoesOnOnlyInTheTopOneOverEtaOfTheResultsRecordedAtItsRung()
    {
        // Validation accuracy of six trials at epochs 1–6 of 17; the rule sees them at rungs 2 and 6 in the order they arrive.
        double[][] curves =
        {
            new[] { .30, .50, .55, .60, .62, .65 },
            new[] { .35, .60, .62, .66, .68, .70 },
            new[] { .20, .40, .45, .50, .52, .55 },
            new[] { .40, .70, .72, .75, .77, .80 },
            new[] { .10, .30, .35, .40, .42, .45 },
            new[] { .30, .65, .66, .67, .68, .69 },
        };
        var rule = new AshaRule(new Sape2AshaOptions(), 17);
        var atRungTwo = curves.Select(c => rule.Continue(2, -c[1])).ToArray();
        // n = 1..6 results, kept = ⌈n/3⌉: .50 (alone) on; .60 best of two on; .40 third of three off; .70 best on;
        // .30 fifth off; .65 second of six with two kept on.
        CollectionAssert.AreEqual(new[] { true, true, false, true, false, true }, atRungTwo);
        var atRungSix = curves.Where((_, i) => atRungTwo[i]).Select(c => rule.Continue(6, -c[5])).ToArray();
        // .65 alone on; .70 best of two on; .80 best of three on; .69 third of four, two kept, off.
        CollectionAssert.AreEqual(new[] { true, true, true, false }, atRungSix);
    }

    [TestMethod]
    public void LevelsAndExpectedEpochsFollowTheRungs()
    {
        var rule = new AshaRule(new Sape2AshaOptions(), 17);
        Assert.AreEqual((0, 2, 2, 6, 6, 17), (rule.Level(1), rule.Level(2), rule.Level(5), rule.Level(6), rule.Level(16), rule.Level(17)));
        Assert.AreEqual(2 + 4 / 3.0 + 11 / 9.0, rule.ExpectedEpochsPerConfiguration(), 1e-12);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => rule.Record(3, 0), "Epoch 3 is no rung.");
    }
}
