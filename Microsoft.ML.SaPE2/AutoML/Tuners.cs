namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>Uniform random points of the search space's unit cube (log ranges uniform in the log), from a seed.</summary>
public sealed class Sape2RandomSearchTuner(int seed) : ISape2Tuner
{
    private readonly Random random = new(seed);

    /// <inheritdoc/>
    public Sape2TrialParameters? Propose(Sape2TrialSettings settings) =>
        settings.SearchSpace.FromUnit(Enumerable.Range(0, settings.SearchSpace.Dimension).Select(_ => random.NextDouble()).ToArray());

    /// <inheritdoc/>
    public void Update(Sape2TrialResult result) { }
}

/// <summary>
/// Every combination of every choice and <c>stepsPerRange</c> evenly spaced values of each range (log ranges evenly in
/// the log), the first knob varying slowest; <see cref="Propose"/> returns null once the grid is covered.
/// </summary>
public sealed class Sape2GridSearchTuner(int stepsPerRange = 3) : ISape2Tuner
{
    private long next;

    /// <inheritdoc/>
    public Sape2TrialParameters? Propose(Sape2TrialSettings settings)
    {
        if (stepsPerRange < 1) throw new ArgumentOutOfRangeException(nameof(stepsPerRange), $"Must be 1 or more; got {stepsPerRange}.");
        var axes = settings.SearchSpace.Knobs.Select(k => k.Grid(stepsPerRange)).ToArray();
        long size = axes.Aggregate(1L, (product, axis) => product > long.MaxValue / axis.Count ? long.MaxValue : product * axis.Count);
        if (next >= size) return null;
        long index = next++;
        var values = new object[axes.Length];
        for (int i = axes.Length - 1; i >= 0; i--)
        {
            values[i] = axes[i][(int)(index % axes[i].Count)];
            index /= axes[i].Count;
        }
        return settings.SearchSpace.Build(values);
    }

    /// <inheritdoc/>
    public void Update(Sape2TrialResult result) { }
}

/// <summary>
/// A cost-frugal local search in the style of CFO (Wu, Wang and Huang, AAAI 2021; FLAML), ML.NET AutoML's default tuner:
/// it starts at the search space's initial values — the cheap default — and moves only to better points. Each step
/// tries a random direction, then its opposite; after a run of failures the step shrinks, and when it is tiny the
/// search restarts from a random point. A better result from a trial it did not propose (trial 0, another encoding)
/// becomes its starting point.
/// </summary>
public sealed class Sape2CostFrugalTuner(int seed) : ISape2Tuner
{
    private const double InitialStep = 0.25, ShrinkFactor = 0.7, SmallestStep = 0.02;
    private readonly Random random = new(seed);
    private readonly List<Sape2TrialResult> unseen = new();   // results that came before the first proposal told the space
    private Sape2SearchSpace? space;
    private double[]? incumbent;
    private double incumbentLoss = double.PositiveInfinity;
    private double step = InitialStep;
    private double[]? direction;
    private bool triedOpposite;
    private int failedDirections, restarts;

    /// <summary>The current step length in the unit cube.</summary>
    public double Step => step;

    /// <inheritdoc/>
    public Sape2TrialParameters? Propose(Sape2TrialSettings settings)
    {
        if (space is null)
        {
            space = settings.SearchSpace;
            incumbent = space.ToUnit(space.Default());
            foreach (var result in unseen) Update(result);
            unseen.Clear();
        }
        if (double.IsPositiveInfinity(incumbentLoss))    // nothing scored here yet: the point itself (at first, the default exactly)
            return restarts == 0 ? space.Default() : space.FromUnit(incumbent!);
        if (direction is null) (direction, triedOpposite) = (RandomUnitVector(space.Dimension), false);
        double sign = triedOpposite ? -1 : 1;
        return space.FromUnit(incumbent!.Select((x, i) => x + sign * step * direction[i]).ToArray());
    }

    /// <inheritdoc/>
    public void Update(Sape2TrialResult result)
    {
        if (space is null) { unseen.Add(result); return; }
        if (result.Loss < incumbentLoss)
        {
            (incumbent, incumbentLoss, direction, failedDirections) = (space.ToUnit(result.Parameters), result.Loss, null, 0);
            return;
        }
        if (direction is null) return;                  // a trial this tuner did not propose, and no better: nothing to learn
        if (!triedOpposite) { triedOpposite = true; return; }
        direction = null;                               // both ways failed
        if (++failedDirections < Math.Min(1 << Math.Min(space.Dimension - 1, 4), 16)) return;
        failedDirections = 0;
        step *= ShrinkFactor;
        if (step >= SmallestStep) return;
        step = InitialStep;                             // converged here: restart from a random point
        restarts++;
        incumbent = incumbent!.Select(_ => random.NextDouble()).ToArray();
        incumbentLoss = double.PositiveInfinity;
    }

    private double[] RandomUnitVector(int dimension)
    {
        while (true)
        {
            var v = Enumerable.Range(0, dimension).Select(_ => Gaussian()).ToArray();
            double norm = Math.Sqrt(v.Sum(x => x * x));
            if (norm > 1e-12) return v.Select(x => x / norm).ToArray();
        }
    }

    private double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
