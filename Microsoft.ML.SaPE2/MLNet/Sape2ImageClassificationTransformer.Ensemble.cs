using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2;

public sealed partial class Sape2ImageClassificationTransformer
{
    /// <summary>
    /// The networks whose class probabilities this model averages: one for a model the trainer fitted, several for an AutoML
    /// experiment's ensemble. <see cref="Classifier"/> is the first (the one <see cref="Architecture"/> and
    /// <see cref="TrainingHistory"/> describe). All members read the same image format and have the same classes.
    /// </summary>
    public IReadOnlyList<ImageClassifier> EnsembleMembers => members;

    /// <summary>Each member's weight in the average (positive, summing to 1); <c>[1]</c> for a single network.</summary>
    public IReadOnlyList<float> EnsembleWeights => memberWeights;

    /// <summary>
    /// One model that averages the class probabilities of <paramref name="parts"/>' networks with the given weights (normalised to sum
    /// to 1); columns and training record are the first part's. The new model owns the networks: dispose it, not the parts.
    /// </summary>
    internal static Sape2ImageClassificationTransformer Averaging(IReadOnlyList<(Sape2ImageClassificationTransformer Model, float Weight)> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("An ensemble needs at least one model.", nameof(parts));
        var first = parts[0].Model;
        var networks = parts.SelectMany(p => p.Model.members.Select((m, i) => (Member: m, Weight: p.Weight * p.Model.memberWeights[i]))).ToList();
        return new Sape2ImageClassificationTransformer(first.Host, networks.Select(n => n.Member).ToArray(),
            networks.Select(n => n.Weight).ToArray(), first.FeatureColumnName, first.label, first.ScoreColumnName, first.PredictedLabelColumnName)
        {
            TrainingCancelled = first.TrainingCancelled,
        };
    }

    /// <summary>The one network, for what takes a single one (<paramref name="what"/> names it in the error an ensemble gets).</summary>
    internal ImageClassifier SingleNetwork(string what) => members.Length == 1 ? members[0] : throw new NotSupportedException(
        $"{what} takes one network; this model is an ensemble of {members.Length}, whose probabilities it averages. Use its ONNX export " +
        "(Sape2Onnx.Export, which averages them in the graph), or the model of one trial.");

    /// <summary>Class probabilities of <paramref name="count"/> decoded images, row-major (count × classes): the members' weighted
    /// average.</summary>
    internal float[] PredictProbabilities(byte[] pixels, int count, int batchSize = 256)
    {
        if (members.Length == 1) return members[0].PredictProbabilities(pixels, count, batchSize);
        var average = new float[count * ClassNames.Count];
        for (int m = 0; m < members.Length; m++)
        {
            var probabilities = members[m].PredictProbabilities(pixels, count, batchSize);
            for (int i = 0; i < average.Length; i++) average[i] += memberWeights[m] * probabilities[i];
        }
        return average;
    }

    /// <summary>Checks that <paramref name="networks"/> can be averaged and returns <paramref name="weights"/> summing to 1.</summary>
    private static float[] CheckedWeights(IReadOnlyList<ImageClassifier> networks, IReadOnlyList<float> weights)
    {
        if (networks.Count == 0 || networks.Count != weights.Count)
            throw new ArgumentException($"{networks.Count} networks and {weights.Count} weights; an ensemble needs one weight per network.");
        var first = networks[0];
        for (int i = 1; i < networks.Count; i++)
        {
            if (!networks[i].ClassNames.SequenceEqual(first.ClassNames))
                throw new ArgumentException($"Ensemble member {i} has the classes [{string.Join(", ", networks[i].ClassNames)}]; the first has " +
                    $"[{string.Join(", ", first.ClassNames)}]. Members must score the same classes in the same order.");
            if (networks[i].Format != first.Format)
                throw new ArgumentException($"Ensemble member {i} reads images as {networks[i].Format}; the first as {first.Format}. Members " +
                    "must read the same image format (the images are decoded once for all of them).");
        }
        if (weights.Any(w => !float.IsFinite(w) || w <= 0))
            throw new ArgumentException($"Ensemble weights must be positive and finite; got [{string.Join(", ", weights)}].");
        float total = weights.Sum();
        return weights.Select(w => w / total).ToArray();
    }
}
