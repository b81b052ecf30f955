using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>What the coordinator does with trials: learns the finished ones from the store, records a trial's end, keeps the best model
/// and picks the result.</summary>
internal sealed partial class ExperimentCoordinator
{
    private void Replay(TrialStore store, ExperimentState state, IChannel ch)
    {
        int rerun = store.RemoveUnfinished();
        if (rerun > 0) ch.Log($"SaPE² experiment: {rerun} trial(s) unfinished when the earlier run stopped will run again.");
        state.ForgetTrials();
        foreach (var (result, neverPrune, _) in store.FinishedTrials(state.Space))
        {
            var settings = new Sape2TrialSettings { TrialId = result.TrialId, SearchSpace = state.Space, NeverPrune = neverPrune };
            state.Parameters(result.TrialId, settings);   // the tuner proposes again what it proposed then, so it continues where it was
            state.Learn(result);
        }
        var best = state.BestCandidate(state.Trials);
        if (best is null || store.Best() is not { } recorded || recorded.Trial != best.TrialId) return;
        // The checkpoint folder's own best is found in the folder, wherever it was recorded: a copied or moved folder resumes with its
        // own file (earlier versions recorded an absolute path).
        string path = Path.Combine(settings.CheckpointFolder!, BestModelFile);
        try
        {
            best.Model = LoadModel(path);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or FormatException
                                      or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"The experiment in '{settings.CheckpointFolder}' records trial {best.TrialId} as its " +
                $"best, but its model '{path}' cannot be read: {e.Message} Restore the file, or start a new experiment in another folder.", e);
        }
        state.Best = best;
    }

    /// <summary>Learns from the trials other workers of a shared study finished since the last look (ASHA's rungs are read from the store
    /// when a trial reaches one).</summary>
    private void Sync(TrialStore store, ExperimentState state)
    {
        foreach (var (result, _, _) in store.FinishedTrials(state.Space))
            if (!state.Seen.Contains(result.TrialId)) state.Learn(result);
    }

    private Sape2ImageClassificationTransformer LoadModel(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist.", path);
        return ml.Model.LoadSape2Model(path, out _) as Sape2ImageClassificationTransformer
            ?? throw new InvalidDataException($"'{path}' is not a SaPE² model.");
    }

    private void Finish(Sape2TrialResult result, Sape2ImageClassificationTransformer? model, ExperimentState state, TrialStore store,
        DataViewSchema inputSchema, IChannel ch)
    {
        if (!store.Finished(result, settings.WorkerName))
        {
            ch.Log($"SaPE² experiment: trial {result.TrialId} was given to another worker when its heartbeats stopped reaching the store; this " +
                "result is not counted.");
            model?.Dispose();
            return;
        }
        state.Learn(result);
        var previous = state.Best;
        if (model is not null && state.IsBetter(result, previous) && OfferBest(result, model, state, store, inputSchema))
        {
            result.Model = model;
            state.Best = result;
            if (previous?.Model is { } beaten)
            {
                if (!state.Pool.Any(p => p.Model == beaten)) beaten.Dispose();   // a resumed run's best, loaded from its file
                previous.Model = null;                                          // a pooled one stays in the pool, or is freed there
            }
            settings.Monitor?.ReportBestTrial(result);
        }
        // The pool keeps the best few for the ensemble (only the best without one) and frees the others' native weights now.
        if (model is not null) state.Keep(result, model, settings.Ensemble && !settings.Shared ? EnsemblePoolSize : 1);
        ch.Log($"SaPE² experiment: trial {result.TrialId} {result.Status.ToString().ToLowerInvariant()} after {result.EpochsTrained} epoch(s), " +
            $"{result.Seconds:F1} s, {settings.Metric} {result.Metric:F4}{(result.Reason is null ? "" : $" ({result.Reason})")}; best so far: " +
            $"trial {state.Best?.TrialId.ToString() ?? "none"}.");
    }

    /// <summary>
    /// Saves <paramref name="model"/> and records it as the store's best unless a better one (another worker's) is recorded there already:
    /// <c>best-model.zip</c> in a checkpoint folder, <c>best-model.trial-N.zip</c> in a shared study's (workers may share a folder).
    /// Without a checkpoint folder nothing is saved and the model is this run's best.
    /// </summary>
    private bool OfferBest(Sape2TrialResult result, Sape2ImageClassificationTransformer model, ExperimentState state, TrialStore store,
        DataViewSchema inputSchema)
    {
        if (settings.CheckpointFolder is not { } folder) return true;
        bool shared = settings.Shared;
        // A shared study records where its worker wrote the file (another worker may read it); a checkpoint folder only the file's name.
        string path = Path.GetFullPath(Path.Combine(folder, shared ? $"best-model.trial-{result.TrialId}.zip" : BestModelFile));
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
    private static void LogPlan(ExperimentState state, TimeSpan remaining, IChannel ch)
    {
        if (state.SecondsPerEpoch is not { } perEpoch) return;
        state.PlanLogged = true;
        double epochsPerConfiguration = state.Asha.ExpectedEpochsPerConfiguration();
        int configurations = (int)Math.Floor(Math.Max(0, remaining.TotalSeconds) / (perEpoch * epochsPerConfiguration));
        ch.Log($"SaPE² experiment: budget: {perEpoch:F1} s per epoch measured; the remaining {remaining.TotalSeconds:F0} s fit about " +
            $"{configurations} more configuration(s) at about {epochsPerConfiguration:F1} epochs each under ASHA.");
    }

    private Sape2TrialResult Outcome(ExperimentState state, TrialStore store, IDataView validation, IChannel ch, bool cancelled)
    {
        if (settings.Shared && store.Best() is { } studyBest && studyBest.Trial != state.Best?.TrialId)
        {
            // Another worker trained the study's best: return it when its model is readable here (one machine, or a shared disk).
            if (File.Exists(studyBest.Path) && state.Trials.FirstOrDefault(t => t.TrialId == studyBest.Trial) is { } theirs)
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
            var all = state.Trials;
            if (all.Count > 0 && all.All(t => t.Status == Sape2TrialStatus.Failed))
                throw new InvalidOperationException($"Every trial failed ({all.Count}); the first: {all[0].Reason}", all[0].Exception);
            throw new OperationCanceledException(cancelled
                ? "The experiment was cancelled before any trial trained an epoch; there is no model to return."
                : "The experiment ended before any trial trained an epoch; there is no model to return. Raise SetTrainingTimeInSeconds.");
        }
        var scored = best.Model.Transform(validation);
        var metrics = ml.MulticlassClassification.Evaluate(scored, settings.LabelColumn, settings.TrainerTemplate.ScoreColumnName,
            settings.TrainerTemplate.PredictedLabelColumnName);
        best.ValidationMetrics = metrics;
        ch.Log($"SaPE² experiment: best trial {best.TrialId} ({best.Parameters.PositionEncoding}), {settings.Metric} {best.Metric:F4}; validation " +
            $"accuracy {metrics.MicroAccuracy:P2}, macro {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F4}.");
        return best;
    }
}
