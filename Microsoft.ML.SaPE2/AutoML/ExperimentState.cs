namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// What one run of an experiment knows and changes as it goes: the space, tuner and rungs it runs with, the trials it has learnt from,
/// the best trial so far, the time an epoch takes and the failures in a row. The coordinator, the trial runner and the stop rules read
/// it; only the coordinator changes it.
/// </summary>
internal sealed class ExperimentState(Sape2SearchSpace space, ISape2Tuner tuner, IReadOnlyList<Sape2TrialParameters> otherEncodings,
    AshaRule asha, int[] validationLabels, bool onPretrainedBackbone, List<Sape2TrialResult> trials)
{
    private double trainedSeconds;
    private int trainedEpochs;

    public Sape2SearchSpace Space => space;
    public ISape2Tuner Tuner => tuner;
    public AshaRule Asha => asha;
    /// <summary>The default trial's model tokenizes with the pretrained backbone (photos): PatchSize is not a knob, the backbone's rate is.</summary>
    public bool OnPretrainedBackbone => onPretrainedBackbone;
    /// <summary>Trials after trial 0 that run the other encodings with default settings, before the tuner's.</summary>
    public int SeededTrials => otherEncodings.Count;
    /// <summary>The trials this worker has learnt from (its own and, in a shared study, the other workers').</summary>
    public HashSet<int> Seen { get; } = new();
    public Sape2TrialResult? Best { get; set; }
    public bool PlanLogged { get; set; }
    /// <summary>The models of the best trials this worker finished (the best trial's always among them), for the ensemble; owned here
    /// until <see cref="ReleasePool"/>.</summary>
    public IReadOnlyList<(Sape2TrialResult Result, Sape2ImageClassificationTransformer Model)> Pool => pool;
    private readonly List<(Sape2TrialResult Result, Sape2ImageClassificationTransformer Model)> pool = new();

    /// <summary>Adds a finished trial's model to <see cref="Pool"/>, which keeps the best trial's and the <paramref name="size"/> − 1
    /// others of lowest loss; the rest are disposed.</summary>
    public void Keep(Sape2TrialResult result, Sape2ImageClassificationTransformer model, int size)
    {
        pool.Add((result, model));
        var ordered = pool.OrderBy(p => p.Model == Best?.Model ? 0 : 1).ThenBy(p => p.Result.Loss).ToList();
        foreach (var (_, evicted) in ordered.Skip(Math.Max(1, size))) if (evicted != Best?.Model) evicted.Dispose();
        pool.Clear();
        pool.AddRange(ordered.Take(Math.Max(1, size)));
    }

    /// <summary>Disposes the pooled models that <paramref name="returned"/> does not use (an ensemble shares its members' networks).</summary>
    public void ReleasePool(Sape2ImageClassificationTransformer? returned)
    {
        var used = returned?.EnsembleMembers.ToHashSet() ?? [];
        foreach (var (_, model) in pool)
            if (model != returned && !model.EnsembleMembers.Any(used.Contains)) model.Dispose();
        pool.Clear();
    }

    /// <summary>Trials that failed one after another, counted from the last one that did not.</summary>
    public int FailuresInARow { get; private set; }

    /// <summary>Every trial learnt from, in order (the experiment's <c>Trials</c>; read by other threads under its lock).</summary>
    public IReadOnlyList<Sape2TrialResult> Trials
    {
        get { lock (trials) return trials.ToArray(); }
    }

    /// <summary>Forgets the trials of an earlier run (a resumed experiment learns them again from its store).</summary>
    public void ForgetTrials()
    {
        lock (trials) trials.Clear();
    }

    /// <summary>A finished trial joins the trial list, the time per epoch and the tuner's knowledge.</summary>
    public void Learn(Sape2TrialResult result)
    {
        Seen.Add(result.TrialId);
        if (result.EpochsTrained > 0)
        {
            trainedSeconds += result.Seconds;
            trainedEpochs += result.EpochsTrained;
        }
        tuner.Update(result);
        lock (trials) trials.Add(result);
    }

    /// <summary>Counts this worker's finished trial toward <see cref="FailuresInARow"/>.</summary>
    public void CountOutcome(Sape2TrialResult result) =>
        FailuresInARow = result.Status == Sape2TrialStatus.Failed ? FailuresInARow + 1 : 0;

    /// <summary>Seconds per epoch over every trial that trained, images included; null before any did.</summary>
    public double? SecondsPerEpoch => trainedEpochs > 0 ? trainedSeconds / trainedEpochs : null;

    /// <summary>The validation accuracy of always answering the most frequent class.</summary>
    public double ChanceAccuracy { get; } =
        validationLabels.Length == 0 ? 0 : validationLabels.GroupBy(l => l).Max(g => g.Count()) / (double)validationLabels.Length;

    /// <summary>Trial 0 is the default, the next ones the other position encodings with default settings, then the tuner's.</summary>
    public Sape2TrialParameters? Parameters(int id, Sape2TrialSettings settings) =>
        id == 0 ? space.Default() : id <= otherEncodings.Count ? otherEncodings[id - 1] : tuner.Propose(settings);

    /// <summary>Higher rung first, then the lower loss.</summary>
    public bool IsBetter(Sape2TrialResult candidate, Sape2TrialResult? incumbent) => incumbent is null
        ? !double.IsPositiveInfinity(candidate.Loss)
        : IsBetter(candidate.EpochsTrained, candidate.Loss, incumbent.EpochsTrained, incumbent.Loss);

    /// <summary><see cref="IsBetter(Sape2TrialResult, Sape2TrialResult?)"/> from the epochs and losses alone (a best recorded by another
    /// worker).</summary>
    public bool IsBetter(int epochs, double loss, int incumbentEpochs, double incumbentLoss)
    {
        if (double.IsPositiveInfinity(loss)) return false;
        int level = asha.Level(epochs), incumbentLevel = asha.Level(incumbentEpochs);
        return level != incumbentLevel ? level > incumbentLevel : loss < incumbentLoss;
    }

    public Sape2TrialResult? BestCandidate(IEnumerable<Sape2TrialResult> results)
    {
        Sape2TrialResult? best = null;
        foreach (var result in results)
            if (IsBetter(result, best)) best = result;
        return best;
    }
}
