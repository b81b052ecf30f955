using System.Diagnostics;
using Microsoft.ML.Runtime;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// One run of an experiment, from its settings snapshot: prepares the data, space, tuner, rungs and store; then, until a stop rule
/// answers, claims a trial, runs it with a <see cref="TrialRunner"/> and learns from it; then picks the best trial and, when the settings
/// ask for it, fits its configuration again on all the rows (ML.NET AutoML's <c>AutoMLExperiment.RunAsync</c> loop).
/// </summary>
internal sealed partial class ExperimentCoordinator(MLContext ml, ExperimentSettings settings, List<Sape2TrialResult> trials)
{
    private const string BestModelFile = "best-model.zip";

    /// <summary>Whether the default trial's model tokenizes with the pretrained backbone (known once <see cref="Run"/> has prepared).</summary>
    public bool OnPretrainedBackbone { get; private set; }

    public Sape2TrialResult Run(int experimentSeed, CancellationToken userCancellation)
    {
        using var ch = ((IHostEnvironment)ml).Register(nameof(Sape2Experiment)).Start("Experiment");
        var clock = Stopwatch.StartNew();
        if (settings.Shared && settings.CheckpointFolder is null)
            throw new InvalidOperationException("A shared study needs SetCheckpoint(folder): this worker writes its best models there.");
        if (settings.TrainingTimeInSeconds is null)
            ch.Log($"SaPE² experiment: time budget {settings.Budget} s (the default; SetTrainingTimeInSeconds changes it).");
        var (train, validation, validationLabels) = Datasets(experimentSeed);
        bool cuda = DeviceChoice.IsCuda(settings.TrainerTemplate.Device, ml);
        var space = settings.SearchSpace ?? Sape2SearchSpace.ForDevice(cuda);
        var cache = new DecodedImageCache();
        var plan = PlanDefaultTrial(space, train, validation, cache, ch);
        int plannedEpochs = settings.MaxEpochsPerTrial ?? plan.Training.Epochs;
        var state = new ExperimentState(space, settings.Tuner ?? settings.TunerFactory(experimentSeed), OtherEncodings(space),
            new AshaRule(settings.Asha, plannedEpochs), validationLabels, OnPretrainedBackbone, trials);
        using var store = settings.Shared ? TrialStore.Open(settings.Storage!, settings.Study!) : TrialStore.Open(settings.CheckpointFolder);
        long trainRows = DataViewImages.CountRows(train);
        store.CheckIdentity(Identity(experimentSeed, space, plannedEpochs, trainRows, validationLabels.Length, train, validation));
        if (settings.Shared) Sync(store, state);
        else Replay(store, state, ch);
        LogStart(state, store, cuda, ch);

        // A shared study's budget runs from its first start, on the database's clock; a checkpointed one's from this run's start.
        var (started, now) = settings.Shared ? store.Clock() : (0, 0);
        var deadline = settings.Shared ? clock.Elapsed + TimeSpan.FromSeconds(settings.Budget - (now - started))
            : TimeSpan.FromSeconds(settings.Budget);
        var searchDeadline = SearchDeadline(deadline);
        var budget = new BudgetStopRule(clock, searchDeadline, deadline, settings.Budget);
        IStopRule[] stopRules = settings.MaxModels is { } most
            ? [new CancellationStopRule(userCancellation), budget, new MaxModelsStopRule(most, store), new FailureStreakStopRule()]
            : [new CancellationStopRule(userCancellation), budget, new FailureStreakStopRule()];
        IStopRule? stoppedBy = null;
        while (true)
        {
            if (settings.Shared) Sync(store, state);
            if (FirstStop(stopRules, state) is { } stop)
            {
                (stoppedBy, var reason) = stop;
                ch.Log($"SaPE² experiment: {reason}");
                break;
            }
            var claim = Claim(store, state, space, experimentSeed);
            if (claim is null)
            {
                ch.Log("SaPE² experiment: " + (settings.MaxModels is { } max && store.ClaimedCount() >= max
                    ? $"{max} trials explored (SetMaxModelToExplore)." : "the tuner has nothing more to propose."));
                break;
            }
            if (claim.RerunOf is { } lost)
                ch.Log($"SaPE² experiment: rerun: trial {lost} lost its worker (no heartbeat); it runs again as trial {claim.Id}.");
            var trial = new Sape2TrialSettings { TrialId = claim.Id, SearchSpace = space, Seed = claim.Seed, NeverPrune = claim.NeverPrune };
            trial.Parameters = claim.Parameters;
            var (result, model) = new TrialRunner(ml, settings, state, trial, store, cache, budget.Remaining, userCancellation)
                .Execute(train, validation);
            Finish(result, model, state, store, train.Schema, ch);
            state.CountOutcome(result);
            if (!state.PlanLogged) LogPlan(state, budget.Remaining, ch);
        }
        if (settings.Shared) Sync(store, state);
        var best = Outcome(state, store, validation, ch, userCancellation.IsCancellationRequested);
        if (stoppedBy is BudgetStopRule && best.EpochsTrained < best.PlannedEpochs && !userCancellation.IsCancellationRequested)
            ch.Warn($"SaPE² experiment: the budget ended before any trial finished its schedule: the returned model (trial {best.TrialId}) " +
                $"trained {best.EpochsTrained} of its {best.PlannedEpochs} planned epoch(s), the last one possibly cut short, so it is a " +
                "partial model. Raise SetTrainingTimeInSeconds (or lower SetMaxEpochsPerTrial) for a full one.");
        var ensemble = settings.Ensemble && !settings.Shared && !userCancellation.IsCancellationRequested
            ? SelectEnsemble(state, best, validation, validationLabels, ch) : null;
        if (searchDeadline < deadline)
            FitFinal(best, state, settings.Whole ?? train, trainRows, cache, deadline - clock.Elapsed, userCancellation, ch);
        if (ensemble is not null) BuildEnsemble(best, ensemble, ch);
        state.ReleasePool(best.Model);
        return best;
    }

    /// <summary>The first rule that stops the experiment, with its reason; null to go on.</summary>
    private static (IStopRule Rule, string Reason)? FirstStop(IEnumerable<IStopRule> rules, ExperimentState state)
    {
        foreach (var rule in rules)
            if (rule.ReasonToStop(state) is { } reason) return (rule, reason);
        return null;
    }

    /// <summary>
    /// The default point's trainer makes every check a fit makes before decoding (options, device, sizes, memory): fixed options no trial
    /// could train with are refused here, once, not by every trial until the budget ends. Its plan gives R (the epochs of every trial,
    /// unless set) and whether the images go to the pretrained backbone.
    /// </summary>
    private FitPlan PlanDefaultTrial(Sape2SearchSpace space, IDataView train, IDataView validation, DecodedImageCache cache, IChannel ch)
    {
        var plan = new Sape2ImageClassificationTrainer(ml, settings.TrialOptions(space.Default(), 0, null, false, default))
            { DecodedImages = cache }
            .PlannedFit(train, validation);
        OnPretrainedBackbone = plan.Architecture.Tokenizer == TokenizerKind.PretrainedBackbone;
        if (OnPretrainedBackbone) ch.Log("SaPE² experiment: the images go to the pretrained backbone; the PatchSize knob is not used and " +
            "BackboneLearningRateScale is.");
        return plan;
    }

    /// <summary>What a store records of the experiment that wrote it: a resume or another worker with other settings is refused.</summary>
    private List<(string, string)> Identity(int experimentSeed, Sape2SearchSpace space, int plannedEpochs, long trainRows, int validationRows,
        IDataView train, IDataView validation)
    {
        var identity = new List<(string, string)>
        {
            ("label column", settings.LabelColumn), ("feature column", settings.FeatureColumn), ("metric", settings.Metric.ToString()),
            ("seed", $"{experimentSeed}"), ("search space", space.Fingerprint()), ("tuner", settings.TunerName),
            ("asha", settings.Asha.ToString()), ("epochs per trial", $"{plannedEpochs}"),
            ("training rows", $"{trainRows}"), ("validation rows", $"{validationRows}"),
            // the rows themselves: the same counts of other images, or of swapped labels, are other data (a study recorded before this
            // key existed takes it on its next run)
            ("training data", DataViewImages.Fingerprint(train, settings.FeatureColumn, settings.LabelColumn)),
            ("validation data", DataViewImages.Fingerprint(validation, settings.FeatureColumn, settings.LabelColumn)),
        };
        if (settings.Shared)
            identity.AddRange([("time budget", $"{settings.Budget} s"), ("max trials", $"{settings.MaxModels?.ToString() ?? "none"}")]);
        return identity;
    }

    private void LogStart(ExperimentState state, TrialStore store, bool cuda, IChannel ch) =>
        ch.Log($"SaPE² experiment: {(cuda ? "CUDA" : "CPU")} search space of {state.Space.Dimension} knobs, {settings.TunerName} tuner, " +
            $"metric {settings.Metric}, budget {settings.Budget} s; every trial planned for R = {state.Asha.PlannedEpochs} epochs" +
            $"{(settings.MaxEpochsPerTrial is null ? " (the trainer's automatic number for these images)" : "")}, ASHA η = " +
            $"{settings.Asha.ReductionFactor} with rungs at epochs [{string.Join(", ", state.Asha.Rungs)}]; " +
            (settings.Shared ? $"study '{settings.Study}' in {store.Source} as worker {settings.WorkerName}, {state.Seen.Count} finished " +
                "trial(s) so far." : $"{state.Seen.Count} finished trial(s) from the checkpoint."));

    /// <summary>The next trial from the store (a lost one to rerun first), its parameters proposed for the id the store gives.</summary>
    private ClaimedTrial? Claim(TrialStore store, ExperimentState state, Sape2SearchSpace space, int experimentSeed) =>
        store.Claim(settings.WorkerName, settings.TrainerTemplate.Device, settings.HeartbeatTimeout, settings.MaxModels, space, id =>
        {
            var proposal = new Sape2TrialSettings
            {
                TrialId = id, SearchSpace = space, Seed = Sape2Experiment.TrialSeed(experimentSeed, id),
                NeverPrune = settings.Asha.NeverPruneBracket && id > state.SeededTrials && id % 2 == 0,
            };
            return state.Parameters(id, proposal) is { } parameters ? (parameters, proposal.NeverPrune, proposal.Seed) : null;
        });

    private (IDataView Train, IDataView Validation, int[] ValidationLabels) Datasets(int experimentSeed)
    {
        if (settings.Whole is { } whole)
        {
            CheckColumns(whole);
            return RowSubset.Split(whole, settings.LabelColumn, 0.1, experimentSeed);
        }
        if (settings.Train is not { } train || settings.Validation is not { } validation)
            throw new InvalidOperationException("Call SetDataset before RunAsync.");
        CheckColumns(train, validation);
        return (train, validation, RowSubset.KeyLabels(validation, settings.LabelColumn, "the validation set"));
    }

    /// <summary>
    /// Column mistakes end the experiment before any trial (and before the labels are read), not as a failure of every
    /// trial: the trainer's own schema check, so the messages are the trainer's.
    /// </summary>
    private void CheckColumns(params IDataView[] views)
    {
        var probe = new Sape2ImageClassificationTrainer(ml, new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = settings.LabelColumn, FeatureColumnName = settings.FeatureColumn,
        });
        foreach (var view in views) probe.CheckInputSchema(view.Schema);
    }

    private static IReadOnlyList<Sape2TrialParameters> OtherEncodings(Sape2SearchSpace space)
    {
        if (space.Knobs.FirstOrDefault(k => k.Name == nameof(Sape2TrialParameters.PositionEncoding)) is not Sape2ChoiceKnob encodings) return [];
        return encodings.Choices.Where(c => !c.Equals(encodings.Initial)).Select(c =>
        {
            var parameters = space.Default();
            parameters.PositionEncoding = (PositionEncodingKind)c;
            return parameters;
        }).ToList();
    }
}
