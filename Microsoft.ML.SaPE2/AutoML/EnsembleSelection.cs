namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// Caruana et al.'s ensemble selection (2004), as auto-sklearn and AutoGluon use it: starting from the best model, greedily add
/// (with replacement) the model whose addition most improves the averaged probabilities on the validation rows, until no addition
/// improves them or <see cref="MaxRounds"/> models are in. The counts are the weights.
/// </summary>
internal static class EnsembleSelection
{
    /// <summary>At most this many additions (auto-sklearn's default is 50 over hundreds of models; a handful of trials needs few).</summary>
    public const int MaxRounds = 10;

    /// <summary>
    /// How often each candidate is picked (0: not in the ensemble), starting from <paramref name="first"/>, and the ensemble's metric on
    /// the validation rows. <paramref name="probabilities"/>[m] holds candidate m's validation probabilities, row-major (rows × classes);
    /// <paramref name="labels"/> the rows' classes from 0.
    /// </summary>
    public static (int[] Counts, double Metric) Select(IReadOnlyList<float[]> probabilities, int[] labels, Sape2MulticlassMetric metric,
        int first)
    {
        int rows = labels.Length, classes = probabilities[0].Length / Math.Max(1, rows);
        var counts = new int[probabilities.Count];
        var sum = new double[rows * classes];
        var current = Score(sum, probabilities[first], 1, labels, classes, metric);
        counts[first] = 1;
        for (int i = 0; i < sum.Length; i++) sum[i] = probabilities[first][i];
        for (int round = 1; round < MaxRounds; round++)
        {
            int bestCandidate = -1;
            (double Metric, double LogLoss) best = default;
            for (int m = 0; m < probabilities.Count; m++)
            {
                var score = Score(sum, probabilities[m], counts.Sum() + 1, labels, classes, metric);
                if (bestCandidate < 0 || Better(score, best, metric)) (bestCandidate, best) = (m, score);
            }
            if (!Better(best, current, metric)) break;
            counts[bestCandidate]++;
            for (int i = 0; i < sum.Length; i++) sum[i] += probabilities[bestCandidate][i];
            current = best;
        }
        return (counts, current.Metric);
    }

    /// <summary>The metric, then the log-loss as the tie-break (one image moves accuracy in steps; the log-loss is smooth).</summary>
    private static bool Better((double Metric, double LogLoss) a, (double Metric, double LogLoss) b, Sape2MulticlassMetric metric)
    {
        bool higherIsBetter = metric != Sape2MulticlassMetric.LogLoss;
        if (a.Metric != b.Metric) return higherIsBetter ? a.Metric > b.Metric : a.Metric < b.Metric;
        return a.LogLoss < b.LogLoss;
    }

    /// <summary>The metric and log-loss of (<paramref name="sum"/> + <paramref name="added"/>) / <paramref name="members"/>.</summary>
    private static (double Metric, double LogLoss) Score(double[] sum, float[] added, int members, int[] labels, int classes,
        Sape2MulticlassMetric metric)
    {
        int rows = labels.Length, correct = 0;
        double logLoss = 0;
        var perClassCorrect = new int[classes];
        var perClassRows = new int[classes];
        for (int r = 0; r < rows; r++)
        {
            int predicted = 0;
            double predictedValue = double.NegativeInfinity;
            for (int c = 0; c < classes; c++)
            {
                double p = (sum[r * classes + c] + added[r * classes + c]) / members;
                if (p > predictedValue) (predicted, predictedValue) = (c, p);
            }
            double truth = (sum[r * classes + labels[r]] + added[r * classes + labels[r]]) / members;
            logLoss -= Math.Log(Math.Max(truth, 1e-15));
            perClassRows[labels[r]]++;
            if (predicted == labels[r]) { correct++; perClassCorrect[labels[r]]++; }
        }
        logLoss /= Math.Max(1, rows);
        double value = metric switch
        {
            Sape2MulticlassMetric.LogLoss => logLoss,
            Sape2MulticlassMetric.MacroAccuracy => Enumerable.Range(0, classes).Where(c => perClassRows[c] > 0)
                .Average(c => perClassCorrect[c] / (double)perClassRows[c]),
            _ => correct / (double)Math.Max(1, rows),
        };
        return (value, logLoss);
    }
}
