namespace Sape2.Cli;

/// <summary>Mean, spread and 95% confidence interval of a few numbers, by Student's t (the runs of a comparison are few).</summary>
internal readonly record struct Summary(int Count, double Mean, double StandardDeviation, double HalfWidth)
{
    // Two-sided 95% quantiles of Student's t for 1 … 30 degrees of freedom; beyond, the normal's 1.96 is within 4%.
    private static readonly double[] T95 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    public double Low => Mean - HalfWidth;
    public double High => Mean + HalfWidth;

    /// <summary>The 95% interval cut to the values the quantity can take (an accuracy's [0, 1], a difference's [−1, 1]): Student's t
    /// over two or three runs can reach far past them.</summary>
    public (double Low, double High) IntervalWithin(double min, double max) => (Math.Clamp(Low, min, max), Math.Clamp(High, min, max));

    /// <summary>The summary of <paramref name="values"/>; with one value the spread and interval are NaN (unknown).</summary>
    public static Summary Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return new Summary(0, double.NaN, double.NaN, double.NaN);
        double mean = values.Average();
        if (values.Count == 1) return new Summary(1, mean, double.NaN, double.NaN);
        double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        double t = values.Count - 1 <= T95.Length ? T95[values.Count - 2] : 1.96;
        return new Summary(values.Count, mean, std, t * std / Math.Sqrt(values.Count));
    }
}
