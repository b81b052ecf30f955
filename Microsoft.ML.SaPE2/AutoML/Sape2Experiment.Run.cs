using System.Diagnostics;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2.AutoML;

public sealed partial class Sape2Experiment
{
    private const string BestModelFile = "best-model.zip";
    /// <summary>Trials that fail one after another, with none trained yet, before the experiment stops: the fixed options or the data
    /// are at fault, and every later trial would fail the same way.</summary>
    private const int FailuresBeforeGivingUp = 3;

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
        bool shared = storage is not null;
        if (shared && checkpointFolder is null)
            throw new InvalidOperationException("A shared study needs SetCheckpoint(folder): this worker writes its best models there.");
        uint budget = trainingTimeInSeconds ?? DefaultTrainingTimeInSeconds;
        if (trainingTimeInSeconds is null) ch.Log($"SaPE² experiment: time budget {budget} s (the default; SetTrainingTimeInSeconds changes it).");
        int experimentSeed = seed ??= host.Rand.Next();
        var (train, validation, validationLabels) = Datasets(experimentSeed);
        bool cuda = DeviceChoice.IsCuda(trainerTemplate.Device, ml);
        var space = searchSpace ?? Sape2SearchSpace.ForDevice(cuda);
        var activeTuner = tuner ?? (tunerFactory ?? (s => new Sape2CostFrugalTuner(s)))(experimentSeed);
        var cache = new DecodedImageCache();
        // The default point's trainer makes every check a fit makes before decoding (options, device, sizes, memory): fixed options
        // no trial could train with are refused here, once, not by every trial until the budget ends.
        var (automaticEpochs, architecture) = new Sape2ImageClassificationTrainer(ml, TrialOptions(space.Default(), 0, null, default))
            { DecodedImages = cache }
            .PlannedFit(train, validation);
        onPretrainedBackbone = architecture.Tokenizer == TokenizerKind.PretrainedBackbone;
        if (onPretrainedBackbone) ch.Log("SaPE² experiment: the images go to the pretrained backbone; the PatchSize knob is not used and " +
            "BackboneLearningRateScale is.");
        int plannedEpochs = maxEpochsPerTrial ?? automaticEpochs;
        var state = new RunState(space, activeTuner, OtherEncodings(space), new AshaRule(asha, plannedEpochs), validationLabels);
        using var store = shared ? TrialStore.Open(storage!, study!) : TrialStore.Open(checkpointFolder);
        long trainRows = DataViewImages.CountRows(train);
        var identity = new List<(string, string)>
        {
            ("label column", labelColumn), ("feature column", featureColumn), ("metric", metric.ToString()), ("seed", $"{experimentSeed}"),
            ("search space", space.Fingerprint()), ("tuner", tunerName), ("asha", asha.ToString()),
            ("epochs per trial", $"{plannedEpochs}"),
            ("training rows", $"{trainRows}"), ("validation rows", $"{validationLabels.Length}"),
            // the rows themselves: the same counts of other images, or of swapped labels, are other data (a study recorded before this
            // key existed takes it on its next run)
            ("training data", DataViewImages.Fingerprint(train, featureColumn, labelColumn)),
            ("validation data", DataViewImages.Fingerprint(validation, featureColumn, labelColumn)),
        };
        if (shared) identity.AddRange([("time budget", $"{budget} s"), ("max trials", $"{maxModels?.ToString() ?? "none"}")]);
        store.CheckIdentity(identity);
        if (shared) Sync(store, state);
        else Replay(store, state, ch);
        ch.Log($"SaPE² experiment: {(cuda ? "CUDA" : "CPU")} search space of {space.Dimension} knobs, {tunerName} tuner, metric {metric}, " +
            $"budget {budget} s; every trial planned for R = {plannedEpochs} epochs{(maxEpochsPerTrial is null ? " (the trainer's automatic " +
            "number for these images)" : "")}, ASHA η = {asha.ReductionFactor} with rungs at epochs [{string.Join(", ", state.Asha.Rungs)}]; " +
            (shared ? $"study '{study}' in {store.Source} as worker {WorkerName}, {state.Seen.Count} finished trial(s) so far."
                : $"{state.Seen.Count} finished trial(s) from the checkpoint."));

        // A shared study's budget runs from its first start, on the database's clock; a checkpointed one's from this run's start.
        var (started, now) = shared ? store.Clock() : (0, 0);
        var deadline = shared ? clock.Elapsed + TimeSpan.FromSeconds(budget - (now - started)) : TimeSpan.FromSeconds(budget);
        var searchDeadline = SearchDeadline(deadline, shared);
        int failuresInARow = 0;
        bool budgetEnded = false;
        while (true)
        {
            if (userCancellation.IsCancellationRequested) { ch.Log("SaPE² experiment: cancelled."); break; }
            var remaining = searchDeadline - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                budgetEnded = true;
                ch.Log(searchDeadline < deadline ? $"SaPE² experiment: the search's {searchDeadline.TotalSeconds:F0} s are spent."
                    : $"SaPE² experiment: the {budget} s budget is spent.");
                break;
            }
            if (shared) Sync(store, state);
            if (!FitsAnotherTrial(state, remaining, ch)) { budgetEnded = true; break; }
            var claim = store.Claim(WorkerName, trainerTemplate.Device, HeartbeatTimeout, maxModels, space, id =>
            {
                var proposal = new Sape2TrialSettings
                {
                    TrialId = id, SearchSpace = space, Seed = TrialSeed(experimentSeed, id),
                    NeverPrune = asha.NeverPruneBracket && id > state.SeededTrials && id % 2 == 0,
                };
                return state.Parameters(id, proposal) is { } parameters ? (parameters, proposal.NeverPrune, proposal.Seed) : null;
            });
            if (claim is null)
            {
                ch.Log(maxModels is { } most && store.ClaimedCount() >= most ? $"SaPE² experiment: {most} trials explored (SetMaxModelToExplore)."
                    : "SaPE² experiment: the tuner has nothing more to propose.");
                break;
            }
            if (claim.RerunOf is { } lost)
                ch.Log($"SaPE² experiment: rerun: trial {lost} lost its worker (no heartbeat); it runs again as trial {claim.Id}.");
            var settings = new Sape2TrialSettings { TrialId = claim.Id, SearchSpace = space, Seed = claim.Seed, NeverPrune = claim.NeverPrune };
            settings.Parameters = claim.Parameters;
            var trial = new TrialRun(this, state, settings, store, cache, searchDeadline - clock.Elapsed, userCancellation);
            var (result, model) = trial.Execute(train, validation);
            Finish(result, model, state, store, train.Schema, ch);
            failuresInARow = result.Status == Sape2TrialStatus.Failed ? failuresInARow + 1 : 0;
            if (failuresInARow >= FailuresBeforeGivingUp && state.Best is null)
            {
                ch.Log($"SaPE² experiment: the first {failuresInARow} trials all failed; stopping rather than failing every trial until the " +
                    "budget ends.");
                break;
            }
            if (!state.PlanLogged) LogPlan(state, searchDeadline - clock.Elapsed, ch);
        }
        if (shared) Sync(store, state);
        var best = Outcome(state, store, validation, ch, userCancellation.IsCancellationRequested);
        if (budgetEnded && best.EpochsTrained < best.PlannedEpochs && !userCancellation.IsCancellationRequested)
            ch.Warn($"SaPE² experiment: the budget ended before any trial finished its schedule: the returned model (trial {best.TrialId}) " +
                $"trained {best.EpochsTrained} of its {best.PlannedEpochs} planned epoch(s), the last one possibly cut short, so it is a " +
                "partial model. Raise SetTrainingTimeInSeconds (or lower SetMaxEpochsPerTrial) for a full one.");
        if (searchDeadline < deadline)
            FitFinal(best, state, wholeData ?? train, trainRows, cache, deadline - clock.Elapsed, userCancellation, ch);
        return best;
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

    /// <summary>A trial's seed: the experiment's and the trial id mixed, so reruns and resumes train the same.</summary>
    internal static int TrialSeed(int experimentSeed, int trialId) => unchecked(experimentSeed * 1_000_003 + trialId * 7_919 + 17);

    private void Replay(TrialStore store, RunState state, IChannel ch)
    {
        int rerun = store.RemoveUnfinished();
        if (rerun > 0) ch.Log($"SaPE² experiment: {rerun} trial(s) unfinished when the earlier run stopped will run again.");
        lock (trials) trials.Clear();
        foreach (var (result, neverPrune, _) in store.FinishedTrials(state.Space))
        {
            var settings = new Sape2TrialSettings { TrialId = result.TrialId, SearchSpace = state.Space, NeverPrune = neverPrune };
            state.Parameters(result.TrialId, settings);   // the tuner proposes again what it proposed then, so it continues where it was
            Learn(result, state);
        }
        var best = state.BestCandidate(Trials);
        if (best is null || store.Best() is not { } recorded || recorded.Trial != best.TrialId) return;
        // The checkpoint folder's own best is found in the folder, wherever it was recorded: a copied or moved folder resumes with its
        // own file (earlier versions recorded an absolute path).
        string path = Path.Combine(checkpointFolder!, BestModelFile);
        try
        {
            best.Model = LoadModel(path);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or FormatException
                                      or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"The experiment in '{checkpointFolder}' records trial {best.TrialId} as its best, but its " +
                $"model '{path}' cannot be read: {e.Message} Restore the file, or start a new experiment in another folder.", e);
        }
        state.Best = best;
    }

    /// <summary>Learns from the trials other workers of a shared study finished since the last look (ASHA's rungs are read from the store
    /// when a trial reaches one).</summary>
    private void Sync(TrialStore store, RunState state)
    {
        foreach (var (result, _, _) in store.FinishedTrials(state.Space))
            if (!state.Seen.Contains(result.TrialId)) Learn(result, state);
    }

    /// <summary>A finished trial joins the experiment's list, the time per epoch and the tuner's knowledge.</summary>
    private void Learn(Sape2TrialResult result, RunState state)
    {
        state.Seen.Add(result.TrialId);
        state.Timed(result);
        state.Tuner.Update(result);
        lock (trials) trials.Add(result);
    }

    private Sape2ImageClassificationTransformer LoadModel(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist.", path);
        return ml.Model.LoadSape2Model(path, out _) as Sape2ImageClassificationTransformer
            ?? throw new InvalidDataException($"'{path}' is not a SaPE² model.");
    }

    private void Finish(Sape2TrialResult result, Sape2ImageClassificationTransformer? model, RunState state, TrialStore store,
        DataViewSchema inputSchema, IChannel ch)
    {
        if (!store.Finished(result, WorkerName))
        {
            ch.Log($"SaPE² experiment: trial {result.TrialId} was given to another worker when its heartbeats stopped reaching the store; this " +
                "result is not counted.");
            model?.Dispose();
            return;
        }
        Learn(result, state);
        var previous = state.Best;
        if (model is not null && state.IsBetter(result, previous) && OfferBest(result, model, state, store, inputSchema))
        {
            result.Model = model;
            state.Best = result;
            if (previous is not null) { previous.Model?.Dispose(); previous.Model = null; }
            monitor?.ReportBestTrial(result);
        }
        else model?.Dispose();   // scored and beaten: free its native weights now
        ch.Log($"SaPE² experiment: trial {result.TrialId} {result.Status.ToString().ToLowerInvariant()} after {result.EpochsTrained} epoch(s), " +
            $"{result.Seconds:F1} s, {metric} {result.Metric:F4}{(result.Reason is null ? "" : $" ({result.Reason})")}; best so far: trial " +
            $"{state.Best?.TrialId.ToString() ?? "none"}.");
    }

    /// <summary>
    /// Saves <paramref name="model"/> and records it as the store's best unless a better one (another worker's) is recorded there already:
    /// <c>best-model.zip</c> in a checkpoint folder, <c>best-model.trial-N.zip</c> in a shared study's (workers may share a folder).
    /// Without a checkpoint folder nothing is saved and the model is this run's best.
    /// </summary>
    private bool OfferBest(Sape2TrialResult result, Sape2ImageClassificationTransformer model, RunState state, TrialStore store,
        DataViewSchema inputSchema)
    {
        if (checkpointFolder is null) return true;
        bool shared = storage is not null;
        // A shared study records where its worker wrote the file (another worker may read it); a checkpoint folder only the file's name.
        string path = Path.GetFullPath(Path.Combine(checkpointFolder, shared ? $"best-model.trial-{result.TrialId}.zip" : BestModelFile));
        string recordedPath = shared ? path : BestModelFile;
        string? replaced = shared ? store.Best()?.Path : null;
        bool won = store.OfferBest(result.TrialId, recorded => recorded is not { } best || state.IsBetter(result.EpochsTrained, result.Loss,
            best.Epochs, best.Loss), () =>
        {
            AtomicFile.Write(path, temporary => ml.Model.Save(model, inputSchema, temporary));
            return recordedPath;
        });
        if (won && replaced is not null && replaced != path && Path.GetDirectoryName(replaced) == Path.GetDirectoryName(path)
            && File.Exists(replaced))
            File.Delete(replaced);   // the study's previous best, written to this folder: beaten, so not kept
        return won;
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
        ch.Log($"SaPE² experiment: budget: {perEpoch:F1} s per epoch measured; the remaining {remaining.TotalSeconds:F0} s fit about " +
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
        ch.Log($"SaPE² experiment: the remaining {remaining.TotalSeconds:F0} s cannot take another trial to its first rung ({firstRung} " +
            $"epoch(s), about {perEpoch * firstRung:F0} s); stopping.");
        return false;
    }

    private Sape2TrialResult Outcome(RunState state, TrialStore store, IDataView validation, IChannel ch, bool cancelled)
    {
        if (storage is not null && store.Best() is { } studyBest && studyBest.Trial != state.Best?.TrialId)
        {
            // Another worker trained the study's best: return it when its model is readable here (one machine, or a shared disk).
            if (File.Exists(studyBest.Path) && Trials.FirstOrDefault(t => t.TrialId == studyBest.Trial) is { } theirs)
            {
                theirs.Model = LoadModel(studyBest.Path);
                state.Best?.Model?.Dispose();
                state.Best = theirs;
            }
            else ch.Log($"SaPE² experiment: the study's best is trial {studyBest.Trial}, written by another worker to '{studyBest.Path}'; this " +
                "worker returns its own best.");
        }
        var best = state.Best;
        if (best?.Model is null)
        {
            var all = Trials;
            if (all.Count > 0 && all.All(t => t.Status == Sape2TrialStatus.Failed))
                throw new InvalidOperationException($"Every trial failed ({all.Count}); the first: {all[0].Reason}", all[0].Exception);
            throw new OperationCanceledException(cancelled
                ? "The experiment was cancelled before any trial trained an epoch; there is no model to return."
                : "The experiment ended before any trial trained an epoch; there is no model to return. Raise SetTrainingTimeInSeconds.");
        }
        var scored = best.Model.Transform(validation);
        var metrics = ml.MulticlassClassification.Evaluate(scored, labelColumn, trainerTemplate.ScoreColumnName,
            trainerTemplate.PredictedLabelColumnName);
        best.ValidationMetrics = metrics;
        ch.Log($"SaPE² experiment: best trial {best.TrialId} ({best.Parameters.PositionEncoding}), {metric} {best.Metric:F4}; validation " +
            $"accuracy {metrics.MicroAccuracy:P2}, macro {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F4}.");
        return best;
    }
}
