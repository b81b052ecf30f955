using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>The ensemble after the search (see <see cref="Sape2Ensemble"/>).</summary>
internal sealed partial class ExperimentCoordinator
{
    /// <summary>The trial models kept for the ensemble: the best trial's and the next best few.</summary>
    private const int EnsemblePoolSize = 5;

    /// <summary>A selected member: the trial, its pooled model and how often ensemble selection picked it.</summary>
    private sealed record EnsembleMember(Sape2TrialResult Trial, Sape2ImageClassificationTransformer Model, int Count);

    /// <summary>
    /// Ensemble selection over the pooled trial models on the validation rows, from the best trial; null when it keeps the best trial
    /// alone (no other model improves the validation metric, or there is no other).
    /// </summary>
    private List<EnsembleMember>? SelectEnsemble(ExperimentState state, Sape2TrialResult best, IDataView validation, int[] labels,
        IChannel ch)
    {
        var candidates = state.Pool.Where(p => p.Model == best.Model || p.Result.TrialId != best.TrialId).ToList();
        int first = candidates.FindIndex(p => p.Model == best.Model);
        if (candidates.Count < 2 || first < 0) return null;
        var probabilities = candidates.Select(c => ValidationProbabilities(c.Model, validation)).ToList();
        var (counts, metric) = EnsembleSelection.Select(probabilities, labels, settings.Metric, first);
        var members = candidates.Select((c, i) => new EnsembleMember(c.Result, c.Model, counts[i])).Where(m => m.Count > 0)
            .OrderBy(m => m.Trial.TrialId == best.TrialId ? 0 : 1).ToList();
        if (members.Count < 2)
        {
            ch.Log($"SaPE² experiment: ensemble selection keeps trial {best.TrialId} alone: no other of the {candidates.Count - 1} kept " +
                "trial model(s) improves it on the validation rows.");
            return null;
        }
        ch.Log($"SaPE² experiment: ensemble of trials {string.Join(", ", members.Select(m => $"{m.Trial.TrialId} (×{m.Count})"))}: validation " +
            $"{settings.Metric} {metric:F4} against {best.Metric:F4} for trial {best.TrialId} alone (selected on these rows, so optimistic).");
        best.Ensemble = new Sape2Ensemble(members.Select(m => m.Trial.TrialId).ToArray(),
            members.Select(m => m.Count / (float)members.Sum(n => n.Count)).ToArray(), metric);
        return members;
    }

    /// <summary>
    /// Makes <paramref name="best"/>'s model the average of <paramref name="members"/>, the best trial's slot filled by its returned
    /// model. When that is the final fit, its weight is raised to the largest member's: selection weighed the trial's own model, and
    /// the final fit (the same configuration on every row, for a longer schedule) scored 1–3 points above that model on held-out
    /// images in every run measured (Docs/automl.md).
    /// </summary>
    private static void BuildEnsemble(Sape2TrialResult best, List<EnsembleMember> members, IChannel ch)
    {
        int largest = members.Max(m => m.Count);
        var parts = members.Select(m => m.Trial.TrialId == best.TrialId
            ? (best.Model!, (float)(best.FinalFit is null ? m.Count : largest))
            : (m.Model, (float)m.Count)).ToList();
        best.Model = Sape2ImageClassificationTransformer.Averaging(parts);
        best.Ensemble = best.Ensemble! with { Weights = best.Model.EnsembleWeights.ToArray() };
        ch.Log($"SaPE² experiment: the returned model averages {parts.Count} networks" +
            $"{(best.FinalFit is null ? "" : $", trial {best.TrialId}'s being its final fit")}.");
    }

    /// <summary><paramref name="model"/>'s class probabilities on every row of <paramref name="validation"/>, row-major.</summary>
    private static float[] ValidationProbabilities(Sape2ImageClassificationTransformer model, IDataView validation)
    {
        var scored = model.Transform(validation);
        var column = scored.Schema[model.ScoreColumnName];
        using var cursor = scored.GetRowCursor(new[] { column });
        var getter = cursor.GetGetter<VBuffer<float>>(column);
        var all = new List<float>();
        VBuffer<float> row = default;
        while (cursor.MoveNext())
        {
            getter(ref row);
            foreach (float p in row.DenseValues()) all.Add(p);
        }
        return all.ToArray();
    }
}
