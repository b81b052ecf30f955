using System.Diagnostics;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2.AutoML;

public sealed partial class Sape2Experiment
{
    private const string BestModelFile = "best-model.zip";

    /// <summary>
    /// Runs trials until the budget, <see cref="SetMaxModelToExplore"/>, the tuner or <paramref name="cancellationToken"/>
    /// ends the experiment, and returns the best trial at the highest rung reached, with its fitted <c>Model</c>. The
    /// budget's end or a cancellation stops the running trial within one training step; it is never an error while some
    /// trial has a model. Throws only when every trial failed (naming the first failure), when nothing was trained before a
    /// cancellation, or when <c>MLContext.CancelExecution</c> aborts.
    /// </summary>
    public Task<Sape2TrialResult> RunAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref running, 1) == 1) throw new InvalidOperationException("This experiment is already running.");
        return Task.Run(() =>
        {
            try
            {
                return Run(cancellationToken);
            }
            finally
            {
                Volatile.Write(ref running, 0);
            }
        }, CancellationToken.None);
    }

    private Sape2TrialResult Run(CancellationToken userCancellation)
    {
        var host = Host;
        using var ch = host.Start("Experiment");
        var clock = Stopwatch.StartNew();
        uint budget = trainingTimeInSeconds ?? DefaultTrainingTimeInSeconds;
        if (trainingTimeInSeconds is null) ch.Info($"SaPE² experiment: time budget {budget} s (the default; SetTrainingTimeInSeconds changes it).");
        int experimentSeed = seed ??= host.Rand.Next();
        var (train, validation, validationLabels) = Datasets(experimentSeed);
        bool cuda = DeviceChoice.IsCuda(trainerTemplate.Device, ml);
        var space = searchSpace ?? Sape2SearchSpace.ForDevice(cuda);
        var activeTuner = tuner ?? (tunerFactory ?? (s => new Sape2CostFrugalTuner(s)))(experimentSeed);
        var cache = new DecodedImageCache();
        int plannedEpochs = maxEpochsPerTrial ?? new Sape2ImageClassificationTrainer(ml, TrialOptions(space.Default(), 0, null, default, cache))
            .PlannedEpochs(train, validation);
        var state = new RunState(space, activeTuner, OtherEncodings(space), new AshaRule(asha, plannedEpochs), metric, validationLabels);
        using var store = TrialStore.Open(checkpointFolder);
        store.CheckIdentity(new[]
        {
            ("label column", labelColumn), ("feature column", featureColumn), ("metric", metric.ToString()), ("seed", $"{experimentSeed}"),
            ("search space", space.Fingerprint()), ("tuner", tunerName), ("asha", asha.ToString()),
            ("epochs per trial", $"{plannedEpochs}"),
            ("training rows", $"{DataViewImages.CountRows(train)}"), ("validation rows", $"{validationLabels.Length}"),
        });
        Replay(store, state, ch);
        ch.Info($"SaPE² experiment: {(cuda ? "CUDA" : "CPU")} search space of {space.Dimension} knobs, {tunerName} tuner, metric {metric}, " +
            $"budget {budget} s; every trial planned for R = {plannedEpochs} epochs{(maxEpochsPerTrial is null ? " (the trainer's automatic " +
            "number for these images)" : "")}, ASHA η = {asha.ReductionFactor} with rungs at epochs [{string.Join(", ", state.Asha.Rungs)}]; " +
            $"{state.NextId} finished trial(s) from the checkpoint.");

        var deadline = TimeSpan.FromSeconds(budget);
        for (int id = state.NextId; ; id++)
        {
            if (userCancellation.IsCancellationRequested) { ch.Info("SaPE² experiment: cancelled."); break; }
            if (clock.Elapsed >= deadline) { ch.Info($"SaPE² experiment: the {budget} s budget is spent."); break; }
            if (maxModels is { } most && id >= most) { ch.Info($"SaPE² experiment: {most} trials explored (SetMaxModelToExplore)."); break; }
            if (!FitsAnotherTrial(state, deadline - clock.Elapsed, ch)) break;
            var settings = new Sape2TrialSettings
            {
                TrialId = id, SearchSpace = space, Seed = TrialSeed(experimentSeed, id),
                NeverPrune = asha.NeverPruneBracket && id > state.SeededTrials && id % 2 == 0,
            };
            var parameters = state.Parameters(id, settings);
            if (parameters is null) { ch.Info("SaPE² experiment: the tuner has nothing more to propose."); break; }
            settings.Parameters = parameters;
            var trial = new TrialRun(this, state, settings, store, cache, deadline - clock.Elapsed, userCancellation);
            var (result, model) = trial.Execute(train, validation);
            Finish(result, model, state, store, train.Schema, ch);
            if (!state.PlanLogged) LogPlan(state, deadline - clock.Elapsed, ch);
        }
        return Outcome(state, validation, ch);
    }

    private (IDataView Train, IDataView Validation, int[] ValidationLabels) Datasets(int experimentSeed)
    {
        if (wholeData is not null)
        {
            CheckColumns(wholeData);
            return RowSubset.Split(wholeData, labelColumn, 0.1, experimentSeed);
        }
        if (trainData is null || validationData is null) throw new InvalidOperationException("Call SetDataset before RunAsync.");
        CheckColumns(trainData, validationData);
        return (trainData, validationData, RowSubset.KeyLabels(validationData, labelColumn, "the validation set"));
    }

    /// <summary>
    /// Column mistakes end the experiment before any trial (and before the labels are read), not as a failure of every
    /// trial: the trainer's own schema check, so the messages are the trainer's.
    /// </summary>
    private void CheckColumns(params IDataView[] views)
    {
        var probe = new Sape2ImageClassificationTrainer(ml, new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = labelColumn, FeatureColumnName = featureColumn,
        });
        foreach (var view in views) probe.GetOutputSchema(SchemaShape.Create(view.Schema));
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

    /// <summary>A trial's seed: the experiment's and the trial id mixed, so reruns and resumes train the same.</summary>
    internal static int TrialSeed(int experimentSeed, int trialId) => unchecked(experimentSeed * 1_000_003 + trialId * 7_919 + 17);

    private void Replay(TrialStore store, RunState state, IChannel ch)
    {
        int rerun = store.RemoveUnfinished();
        if (rerun > 0) ch.Info($"SaPE² experiment: {rerun} trial(s) unfinished when the earlier run stopped will run again.");
        lock (trials) trials.Clear();
        foreach (var (result, neverPrune) in store.FinishedTrials(state.Space))
        {
            var settings = new Sape2TrialSettings { TrialId = result.TrialId, SearchSpace = state.Space, NeverPrune = neverPrune };
            state.Parameters(result.TrialId, settings);   // the tuner proposes again what it proposed then, so it continues where it was
            state.Observe(result);
            state.Timed(result);
            state.Tuner.Update(result);
            lock (trials) trials.Add(result);
            state.NextId = result.TrialId + 1;
        }
        var best = state.BestCandidate(Trials);
        string path = Path.Combine(checkpointFolder ?? "", BestModelFile);
        if (best is null || checkpointFolder is null || store.BestTrial != best.TrialId || !File.Exists(path)) return;
        var loaded = ml.Model.Load(path, out _);
        best.Model = loaded as Sape2ImageClassificationTransformer ?? throw new InvalidDataException($"'{path}' is not a SaPE² model.");
        state.Best = best;
    }

    private void Finish(Sape2TrialResult result, Sape2ImageClassificationTransformer? model, RunState state, TrialStore store,
        DataViewSchema inputSchema, IChannel ch)
    {
        store.Finished(result);
        state.Timed(result);
        lock (trials) trials.Add(result);
        state.Tuner.Update(result);
        var previous = state.Best;
        if (model is not null && state.IsBetter(result, previous))
        {
            result.Model = model;
            state.Best = result;
            if (previous is not null) { previous.Model?.Dispose(); previous.Model = null; }
            if (checkpointFolder is not null) SaveBest(model, inputSchema, store, result.TrialId);
            monitor?.ReportBestTrial(result);
        }
        else model?.Dispose();   // scored and beaten: free its native weights now
        ch.Info($"SaPE² experiment: trial {result.TrialId} {result.Status.ToString().ToLowerInvariant()} after {result.EpochsTrained} epoch(s), " +
            $"{result.Seconds:F1} s, {metric} {result.Metric:F4}{(result.Reason is null ? "" : $" ({result.Reason})")}; best so far: trial " +
            $"{state.Best?.TrialId.ToString() ?? "none"}.");
    }

    private void SaveBest(Sape2ImageClassificationTransformer model, DataViewSchema inputSchema, TrialStore store, int trialId)
    {
        AtomicFile.Write(Path.Combine(checkpointFolder!, BestModelFile), temporary => ml.Model.Save(model, inputSchema, temporary));
        store.BestTrial = trialId;
    }

    /// <summary>
    /// After the first trial: the configurations the remaining budget fits, from the measured seconds per epoch and ASHA's
    /// expected epochs per configuration (logged once).
    /// </summary>
    private static void LogPlan(RunState state, TimeSpan remaining, IChannel ch)
    {
        if (state.SecondsPerEpoch is not { } perEpoch) return;
        state.PlanLogged = true;
        double epochsPerConfiguration = state.Asha.ExpectedEpochsPerConfiguration();
        int configurations = (int)Math.Floor(Math.Max(0, remaining.TotalSeconds) / (perEpoch * epochsPerConfiguration));
        ch.Info($"SaPE² experiment: budget: {perEpoch:F1} s per epoch measured; the remaining {remaining.TotalSeconds:F0} s fit about " +
            $"{configurations} more configuration(s) at about {epochsPerConfiguration:F1} epochs each under ASHA.");
    }

    /// <summary>
    /// No trial starts that the remaining budget cannot take to its first rung (at the measured seconds per epoch): it
    /// could not be compared with any other, so its time would be lost. Before any trial has a model, one always starts.
    /// </summary>
    private static bool FitsAnotherTrial(RunState state, TimeSpan remaining, IChannel ch)
    {
        if (state.Best is null || state.SecondsPerEpoch is not { } perEpoch) return true;
        int firstRung = state.Asha.Rungs.Count > 0 ? state.Asha.Rungs[0] : state.Asha.PlannedEpochs;
        if (remaining.TotalSeconds >= perEpoch * firstRung) return true;
        ch.Info($"SaPE² experiment: the remaining {remaining.TotalSeconds:F0} s cannot take another trial to its first rung ({firstRung} " +
            $"epoch(s), about {perEpoch * firstRung:F0} s); stopping.");
        return false;
    }

    private Sape2TrialResult Outcome(RunState state, IDataView validation, IChannel ch)
    {
        var best = state.Best;
        if (best?.Model is null)
        {
            var all = Trials;
            if (all.Count > 0 && all.All(t => t.Status == Sape2TrialStatus.Failed))
                throw new InvalidOperationException($"Every trial failed ({all.Count}); the first: {all[0].Reason}", all[0].Exception);
            throw new OperationCanceledException("The experiment ended before any trial trained an epoch; there is no model to return. " +
                "Raise SetTrainingTimeInSeconds.");
        }
        var scored = best.Model.Transform(validation);
        var metrics = ml.MulticlassClassification.Evaluate(scored, labelColumn, trainerTemplate.ScoreColumnName,
            trainerTemplate.PredictedLabelColumnName);
        best.ValidationMetrics = metrics;
        ch.Info($"SaPE² experiment: best trial {best.TrialId} ({best.Parameters.PositionEncoding}), {metric} {best.Metric:F4}; validation " +
            $"accuracy {metrics.MicroAccuracy:P2}, macro {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F4}.");
        return best;
    }
}
