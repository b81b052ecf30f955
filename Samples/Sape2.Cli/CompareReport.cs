using System.Globalization;
using System.Text;
using SkiaSharp;

namespace Sape2.Cli;

/// <summary>`sape2 compare`'s outputs: a Markdown table per encoding and a chart of every run's accuracy with each mean.</summary>
internal static class CompareReport
{
    /// <summary>
    /// Per encoding: runs, held-out accuracy as mean ± standard deviation with its 95% interval, the paired difference to
    /// <paramref name="reference"/> over the seeds both ran (mean and 95% interval), macro accuracy, seconds of Fit per epoch
    /// and their ratio to the reference's.
    /// </summary>
    public static string Markdown(IReadOnlyList<CompareRun> runs, IReadOnlyList<Arm> arms, Arm reference)
    {
        static string P(double v) => double.IsFinite(v) ? (100 * v).ToString("F2", CultureInfo.InvariantCulture) : "–";
        var baseline = runs.Where(r => r.Arm == reference.ToString()).ToDictionary(r => r.Seed);
        double baselinePerEpoch = baseline.Values.Select(r => r.Seconds / r.Epochs).DefaultIfEmpty(double.NaN).Average();
        var text = new StringBuilder();
        text.AppendLine($"| encoding | runs | accuracy % (mean ± sd) | 95% interval | Δ vs {reference} (paired) | 95% interval of Δ | " +
            "macro accuracy % | s / epoch | ÷ " + reference + " |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var arm in arms)
        {
            var mine = runs.Where(r => r.Arm == arm.ToString()).OrderBy(r => r.Seed).ToList();
            var accuracy = Summary.Of(mine.Select(r => r.Accuracy).ToList());
            var paired = arm == reference ? default
                : Summary.Of(mine.Where(r => baseline.ContainsKey(r.Seed)).Select(r => r.Accuracy - baseline[r.Seed].Accuracy).ToList());
            double perEpoch = mine.Select(r => r.Seconds / r.Epochs).DefaultIfEmpty(double.NaN).Average();
            string delta = arm == reference ? "—" : $"{(paired.Mean >= 0 ? "+" : "")}{P(paired.Mean)} (n = {paired.Count})";
            var (low, high) = accuracy.IntervalWithin(0, 1);
            var (pairedLow, pairedHigh) = paired.IntervalWithin(-1, 1);
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {arm} | {mine.Count} | {P(accuracy.Mean)} ± {P(accuracy.StandardDeviation)} | {P(low)} – {P(high)} | " +
                $"{delta} | {(arm == reference ? "—" : $"{P(pairedLow)} – {P(pairedHigh)}")} | " +
                $"{P(mine.Select(r => r.MacroAccuracy).DefaultIfEmpty(double.NaN).Average())} | {perEpoch:F1} | {perEpoch / baselinePerEpoch:F2} |"));
        }
        text.AppendLine();
        text.AppendLine("Intervals by Student's t over the seeds; a paired interval that contains 0 means the difference is within the " +
            "run-to-run noise at this number of seeds.");
        return text.ToString();
    }

    /// <summary>One column per encoding: each run's accuracy as a dot, the mean as a bar, the 95% interval as a whisker.</summary>
    public static void Chart(IReadOnlyList<CompareRun> runs, IReadOnlyList<Arm> arms, string path)
    {
        const int left = 70, top = 40, bottom = 420, column = 140;
        int width = Math.Max(720, left + column * arms.Count + 30), height = 480;
        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        var values = runs.Select(r => r.Accuracy).DefaultIfEmpty(0).ToList();
        double low = Math.Floor(values.Min() * 20 - 1) / 20, high = Math.Min(1, Math.Ceiling(values.Max() * 20 + 1) / 20);
        float Y(double accuracy) =>   // a whisker wider than the plot stops at its edge
            (float)(bottom - (Math.Clamp(accuracy, low, high) - low) / Math.Max(1e-9, high - low) * (bottom - top));
        using var axis = new SKPaint { Color = SKColors.Gray, Style = SKPaintStyle.Stroke, StrokeWidth = 1, IsAntialias = true };
        using var font = new SKFont(SKTypeface.Default, 13);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        canvas.DrawLine(left, top, left, bottom, axis);
        canvas.DrawLine(left, bottom, width - 20, bottom, axis);
        canvas.DrawText("held-out accuracy: dots are runs (seeds), bars the mean, whiskers the 95% interval", left, top - 16, font, ink);
        for (double tick = Math.Ceiling(low * 20) / 20; tick <= high + 1e-9; tick += 0.05)
            canvas.DrawText(tick.ToString("P0", CultureInfo.InvariantCulture), 12, Y(tick) + 4, font, ink);
        using var bar = new SKPaint { Color = new SKColor(70, 130, 180, 90), IsAntialias = true };
        using var dot = new SKPaint { Color = SKColors.SteelBlue, IsAntialias = true };
        using var whisker = new SKPaint { Color = SKColors.Black, Style = SKPaintStyle.Stroke, StrokeWidth = 1.5f, IsAntialias = true };
        for (int a = 0; a < arms.Count; a++)
        {
            var mine = runs.Where(r => r.Arm == arms[a].ToString()).OrderBy(r => r.Seed).ToList();
            float x = left + column * a + column / 2f;
            var summary = Summary.Of(mine.Select(r => r.Accuracy).ToList());
            if (summary.Count > 0) canvas.DrawRect(new SKRect(x - 35, Y(summary.Mean), x + 35, bottom), bar);
            if (double.IsFinite(summary.HalfWidth))
            {
                var (lowest, highest) = summary.IntervalWithin(0, 1);
                canvas.DrawLine(x, Y(lowest), x, Y(highest), whisker);
                canvas.DrawLine(x - 10, Y(lowest), x + 10, Y(lowest), whisker);
                canvas.DrawLine(x - 10, Y(highest), x + 10, Y(highest), whisker);
            }
            for (int i = 0; i < mine.Count; i++) canvas.DrawCircle(x - 20 + 40f * (i + 0.5f) / mine.Count, Y(mine[i].Accuracy), 4, dot);
            canvas.DrawText(arms[a].ToString(), x - column / 2f + 8, bottom + 22, font, ink);
        }
        Microsoft.ML.SaPE2.Explain.Heatmap.SavePng(surface, path);
    }
}
