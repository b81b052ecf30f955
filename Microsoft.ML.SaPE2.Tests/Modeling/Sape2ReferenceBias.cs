namespace Microsoft.ML.SaPE2.Tests.Modeling;

/// <summary>
/// A slow re-computation of the SaPE² bias written from the equations of Docs/spec.md with plain loops
/// over doubles, for one (batch, head) slice. Independent of the library's tensor code.
/// </summary>
internal static class Sape2ReferenceBias
{
    /// <param name="q">q[i][c], N × d, patches row-major.</param>
    /// <param name="k">k[i][c], N × d.</param>
    /// <param name="tableX">E_x[c][t], d × M.</param>
    /// <param name="tableY">E_y[c][t], d × M.</param>
    /// <param name="interpolatePositions">Positions along a row times min(1, (M − 1)/W), along a column times min(1, (M − 1)/H).</param>
    public static double[,] Compute(double[][] q, double[][] k, int gridHeight, int gridWidth,
                                    double[][] tableX, double[][] tableY, double gateScale, bool keyMode, bool interpolatePositions = false)
    {
        int n = gridHeight * gridWidth, last = tableX[0].Length - 1;
        double rowScale = interpolatePositions ? Math.Min(1.0, (double)last / gridWidth) : 1.0;
        double columnScale = interpolatePositions ? Math.Min(1.0, (double)last / gridHeight) : 1.0;
        var x = new double[n][];
        var y = new double[n][];
        for (int i = 0; i < n; i++)
        {
            int row = i / gridWidth, col = i % gridWidth;
            var v = keyMode ? k[i] : q[i];
            // Eq. 9–14 along i's row: the gates to every patch of the row, then one interpolated logit per column m.
            var rowGates = Enumerable.Range(0, gridWidth).Select(j => Sigmoid(gateScale * Dot(q[i], k[row * gridWidth + j]))).ToArray();
            x[i] = Enumerable.Range(0, gridWidth).Select(m => Interpolated(v, tableX, rowScale * SuffixSum(rowGates, m))).ToArray();
            // The same along i's column.
            var colGates = Enumerable.Range(0, gridHeight).Select(r => Sigmoid(gateScale * Dot(q[i], k[r * gridWidth + col]))).ToArray();
            y[i] = Enumerable.Range(0, gridHeight).Select(m => Interpolated(v, tableY, columnScale * SuffixSum(colGates, m))).ToArray();
        }
        var bias = new double[n, n];   // Eq. 15
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                bias[i, j] = Distance(x[i], x[j]) + Distance(y[i], y[j]);
        return bias;
    }

    static double SuffixSum(double[] gates, int from) => gates.Skip(from).Sum();

    static double Interpolated(double[] v, double[][] table, double position)
    {
        int m = table[0].Length;
        position = Math.Min(position, m - 1);
        int floor = (int)Math.Floor(position), ceil = (int)Math.Ceiling(position);
        double w = position - floor;
        return w * Logit(v, table, ceil) + (1 - w) * Logit(v, table, floor);
    }

    static double Logit(double[] v, double[][] table, int t) => v.Select((vc, c) => vc * table[c][t]).Sum();
    static double Dot(double[] a, double[] b) => a.Zip(b, (p, r) => p * r).Sum();
    static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));
    static double Distance(double[] a, double[] b) => Math.Sqrt(a.Zip(b, (p, r) => (p - r) * (p - r)).Sum());
}
