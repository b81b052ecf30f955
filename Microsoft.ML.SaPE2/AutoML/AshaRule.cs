namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// How the experiment spends epochs: ASHA, asynchronous successive halving (Li et al., "A System for Massively Parallel
/// Hyperparameter Tuning", MLSys 2020), in its stopping form. Every trial is planned for R epochs, so its cosine schedule
/// is fixed; at each rung epoch r₀·ηᵏ &lt; R it goes on only if it is in the top 1/η of the results recorded at that rung so
/// far, itself included.
/// </summary>
public sealed record Sape2AshaOptions
{
    /// <summary>η: the share kept at each rung is 1/η. Default 3.</summary>
    public int ReductionFactor { get; init; } = 3;
    /// <summary>r₀, the first rung's epoch; null: max(2, ⌈R/η²⌉), so the default warm-up is over and there are about two rungs.</summary>
    public int? FirstRungEpochs { get; init; }
    /// <summary>Put every other trial (after the default and the other encodings) in a bracket that never prunes, for knobs that
    /// pay off late (more regularisation, stronger augmentation). Default false.</summary>
    public bool NeverPruneBracket { get; init; }

    internal void Validate()
    {
        if (ReductionFactor < 2) throw new ArgumentOutOfRangeException(nameof(ReductionFactor), $"Must be 2 or more; got {ReductionFactor}.");
        if (FirstRungEpochs < 1) throw new ArgumentOutOfRangeException(nameof(FirstRungEpochs), $"Must be 1 or more; got {FirstRungEpochs}.");
    }
}

/// <summary>The rungs and the records at each; decides whether a trial goes on. Pure, so tests need no training.</summary>
internal sealed class AshaRule
{
    private readonly Dictionary<int, List<double>> recorded = new();

    public AshaRule(Sape2AshaOptions options, int plannedEpochs)
    {
        options.Validate();
        if (plannedEpochs < 1) throw new ArgumentOutOfRangeException(nameof(plannedEpochs), $"Must be 1 or more; got {plannedEpochs}.");
        (ReductionFactor, PlannedEpochs) = (options.ReductionFactor, plannedEpochs);
        int eta = options.ReductionFactor;
        int first = options.FirstRungEpochs ?? Math.Max(2, (int)Math.Ceiling(plannedEpochs / (double)(eta * eta)));
        var rungs = new List<int>();
        for (long r = first; r < plannedEpochs; r *= eta) rungs.Add((int)r);
        Rungs = rungs;
    }

    /// <summary>R, the epochs every trial is planned for.</summary>
    public int PlannedEpochs { get; }
    /// <summary>η.</summary>
    public int ReductionFactor { get; }
    /// <summary>The rung epochs, below the planned epochs.</summary>
    public IReadOnlyList<int> Rungs { get; }

    /// <summary>Records <paramref name="loss"/> (lower is better) at <paramref name="rung"/>, then says whether the trial goes on:
    /// true when fewer than ⌈n/η⌉ recorded losses there are strictly better (n counts this one).</summary>
    public bool Continue(int rung, double loss)
    {
        Record(rung, loss);
        return ContinueAmong(recorded[rung], loss);
    }

    /// <summary>The same rule against the losses every worker of a shared study recorded at the rung (this trial's included).</summary>
    public bool ContinueAmong(IReadOnlyCollection<double> recordedThere, double loss)
    {
        int better = recordedThere.Count(l => l < loss);
        int kept = (int)Math.Ceiling(recordedThere.Count / (double)ReductionFactor);
        return better < kept;
    }

    /// <summary>How far a trial got: the highest rung (or R) at or below <paramref name="epochs"/>; 0 below the first rung.</summary>
    public int Level(int epochs) => Rungs.Append(PlannedEpochs).Where(r => r <= epochs).DefaultIfEmpty(0).Max();

    /// <summary>
    /// Epochs a configuration trains on average when each rung keeps 1/η: r₀ + (r₁ − r₀)/η + … + (R − rₖ)/ηᵏ⁺¹.
    /// </summary>
    public double ExpectedEpochsPerConfiguration()
    {
        var stages = Rungs.Prepend(0).Append(PlannedEpochs).ToArray();
        return Enumerable.Range(1, stages.Length - 1).Sum(k => (stages[k] - stages[k - 1]) / Math.Pow(ReductionFactor, k - 1));
    }

    /// <summary>Records a result without a decision (a resumed experiment's finished trials, a never-pruning trial).</summary>
    public void Record(int rung, double loss)
    {
        if (!Rungs.Contains(rung)) throw new ArgumentOutOfRangeException(nameof(rung), $"Epoch {rung} is not a rung ({string.Join(", ", Rungs)}).");
        if (!recorded.TryGetValue(rung, out var losses)) recorded[rung] = losses = new List<double>();
        losses.Add(double.IsNaN(loss) ? double.PositiveInfinity : loss);
    }
}
