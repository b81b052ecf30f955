using System.Globalization;
using System.Text;
using SkiaSharp;

namespace Sape2.Cli;

/// <summary>`sape2 robustness`'s outputs: Markdown tables (mean ± sd over seeds) and two line charts.</summary>
internal static class RobustnessReport
{
    /// <summary>A line of a table or chart: an encoding, or an encoding with interpolated SaPE² positions.</summary>
    private sealed record Series(string Name, string Arm, bool Interpolated);

    public static string Markdown(IReadOnlyList<RobustnessResult> results, IReadOnlyList<string> arms, int testImages)
    {
        var text = new StringBuilder();
        var scales = Points(results, "resolution");
        var shifts = Points(results, "translation");
        var series = SeriesOf(results, arms);
        string Side(double scale)
        {
            var r = results.First(r => r.Study == "resolution" && r.Amount == scale);
            return string.Create(CultureInfo.InvariantCulture, $"×{scale:0.##}: {r.Side} px, {r.Grid}×{r.Grid}");
        }
        text.AppendLine($"Mean ± sd over each encoding's models (seeds), on {testImages:N0} test images.\n");
        text.AppendLine("**Resolution** — held-out accuracy % at larger inputs (bilinear upscaling; more tokens, same weights):\n");
        Table(text, results, series, scales.Select(Side).ToList(), scales, s => Pick(results, s, "resolution"), r => r.Accuracy);
        var sape2 = series.Where(s => results.Any(r => r.Arm == s.Arm && r.ClampFraction is not null)).ToList();
        if (sape2.Count > 0)
        {
            text.AppendLine("\n**SaPE²'s clamp** — % of cumulative positions (Eq. 10, every layer, head and pair) at or past the table's last " +
                "entry:\n");
            Table(text, results, sape2, scales.Select(Side).ToList(), scales, s => Pick(results, s, "resolution"),
                r => r.ClampFraction ?? double.NaN);
        }
        text.AppendLine("\n**Translation** — held-out accuracy % with the images shifted right and down (black fill):\n");
        var plain = series.Where(s => !s.Interpolated).ToList();
        var shiftHeaders = shifts.Select(s => $"{s:0} px").ToList();
        Table(text, results, plain, ["0 px", .. shiftHeaders], [0, .. shifts], s => (r, amount) => amount == 0
            ? r.Study == "resolution" && r.Amount == 1 && r.Arm == s.Arm && !r.Interpolated
            : r.Study == "translation" && r.Amount == amount && r.Arm == s.Arm, r => r.Accuracy);
        text.AppendLine("\n**Translation** — % of predictions unchanged from the unshifted image:\n");
        Table(text, results, plain, shiftHeaders, shifts, s => Pick(results, s, "translation"), r => r.Unchanged);
        return text.ToString();
    }

    /// <summary>resolution.png (accuracy per input side) and translation.png (accuracy and unchanged predictions per shift).</summary>
    public static void Charts(IReadOnlyList<RobustnessResult> results, IReadOnlyList<string> arms, string folder)
    {
        var series = SeriesOf(results, arms);
        var scales = Points(results, "resolution");
        var shifts = Points(results, "translation");
        var plain = series.Where(s => !s.Interpolated).ToList();
        Draw(Path.Combine(folder, "resolution.png"), series,
            [("held-out accuracy vs input side (dashed: SaPE2 positions interpolated)",
                scales.Select(s => string.Create(CultureInfo.InvariantCulture, $"×{s:0.##}")).ToList(),
                s => scales.Select(x => Mean(results, s, "resolution", x, r => r.Accuracy)))]);
        if (shifts.Count > 0)
            Draw(Path.Combine(folder, "translation.png"), plain,
            [
                ("held-out accuracy vs shift", ["0", .. shifts.Select(s => $"{s:0}")], s => new[] { Mean(results, s, "resolution", 1,
                    r => r.Accuracy) }.Concat(shifts.Select(x => Mean(results, s, "translation", x, r => r.Accuracy)))),
                ("predictions unchanged vs shift", shifts.Select(s => $"{s:0}").ToList(),
                    s => shifts.Select(x => Mean(results, s, "translation", x, r => r.Unchanged))),
            ]);
    }

    private static List<double> Points(IReadOnlyList<RobustnessResult> results, string study) =>
        results.Where(r => r.Study == study).Select(r => r.Amount).Distinct().Order().ToList();

    private static List<Series> SeriesOf(IReadOnlyList<RobustnessResult> results, IReadOnlyList<string> arms) => arms
        .Where(a => results.Any(r => r.Arm == a))
        .SelectMany(a => results.Any(r => r.Arm == a && r.Interpolated)
            ? new[] { new Series(a, a, false), new Series($"{a}, positions interpolated", a, true) } : new[] { new Series(a, a, false) })
        .ToList();

    private static Func<RobustnessResult, double, bool> Pick(IReadOnlyList<RobustnessResult> results, Series s, string study) =>
        (r, amount) => r.Study == study && r.Amount == amount && r.Arm == s.Arm &&
            // interpolation changes nothing where the table covers the grid: the plain run stands for it there
            (r.Interpolated == s.Interpolated ||
                (s.Interpolated && !results.Any(o => o.Study == study && o.Arm == s.Arm && o.Amount == amount && o.Interpolated)));

    private static double Mean(IReadOnlyList<RobustnessResult> results, Series s, string study, double amount, Func<RobustnessResult, double> value)
    {
        var pick = Pick(results, s, study);
        return results.Where(r => pick(r, amount)).Select(value).DefaultIfEmpty(double.NaN).Average();
    }

    private static void Table(StringBuilder text, IReadOnlyList<RobustnessResult> results, IReadOnlyList<Series> series,
        IReadOnlyList<string> headers, IReadOnlyList<double> amounts, Func<Series, Func<RobustnessResult, double, bool>> pick,
        Func<RobustnessResult, double> value)
    {
        text.AppendLine($"| encoding | {string.Join(" | ", headers)} |");
        text.AppendLine($"|---|{string.Concat(headers.Select(_ => "---|"))}");
        foreach (var s in series)
        {
            var matches = pick(s);
            var cells = amounts.Select(amount =>
            {
                var summary = Summary.Of(results.Where(r => matches(r, amount)).Select(value).ToList());
                return summary.Count == 0 ? "–" : string.Create(CultureInfo.InvariantCulture,
                    $"{100 * summary.Mean:F2}{(summary.Count > 1 ? $" ± {100 * summary.StandardDeviation:F2}" : "")}");
            });
            text.AppendLine($"| {s.Name} | {string.Join(" | ", cells)} |");
        }

    }

    private static readonly SKColor[] Palette =
    [
        SKColors.Black, SKColors.SteelBlue, SKColors.DarkOrange, SKColors.SeaGreen, SKColors.Crimson, SKColors.MediumPurple, SKColors.Sienna,
        SKColors.HotPink, SKColors.Gray, SKColors.Olive, SKColors.Teal,
    ];

    private static void Draw(string path, IReadOnlyList<Series> series,
        IReadOnlyList<(string Title, IReadOnlyList<string> XLabels, Func<Series, IEnumerable<double>> Values)> panels)
    {
        const int panelWidth = 460, top = 50, bottom = 360, legendTop = 400;
        int width = Math.Max(760, 80 + panels.Count * (panelWidth + 60)), height = legendTop + 20 * ((series.Count + 1) / 2) + 20;
        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 13);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var axis = new SKPaint { Color = SKColors.Gray, Style = SKPaintStyle.Stroke, StrokeWidth = 1, IsAntialias = true };
        for (int p = 0; p < panels.Count; p++)
        {
            var (title, labels, values) = panels[p];
            var area = new SKRect(70 + p * (panelWidth + 60), top, 70 + p * (panelWidth + 60) + panelWidth, bottom);
            var all = series.SelectMany(values).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
            double low = Math.Floor(all.Min() * 20) / 20, high = Math.Min(1, Math.Ceiling(all.Max() * 20) / 20);
            if (high - low < 0.05) high = low + 0.05;
            canvas.DrawRect(area, axis);
            canvas.DrawText(title, area.Left, area.Top - 14, font, ink);
            for (double tick = low; tick <= high + 1e-9; tick += 0.05)
            {
                float y = (float)(area.Bottom - (tick - low) / (high - low) * area.Height);
                canvas.DrawText(tick.ToString("P0", CultureInfo.InvariantCulture), area.Left - 50, y + 4, font, ink);
            }
            float X(int i) => area.Left + (labels.Count == 1 ? area.Width / 2 : area.Width * i / (labels.Count - 1));
            for (int i = 0; i < labels.Count; i++) canvas.DrawText(labels[i], X(i) - 10, area.Bottom + 18, font, ink);
            for (int s = 0; s < series.Count; s++)
            {
                using var pen = new SKPaint { Color = Palette[s % Palette.Length], Style = SKPaintStyle.Stroke, StrokeWidth = 2.5f,
                    IsAntialias = true, PathEffect = series[s].Interpolated ? SKPathEffect.CreateDash([8, 5], 0) : null };
                using var dot = new SKPaint { Color = Palette[s % Palette.Length], IsAntialias = true };
                using var line = new SKPath();
                var points = values(series[s]).ToList();
                for (int i = 0; i < points.Count; i++)
                {
                    if (!double.IsFinite(points[i])) continue;
                    var point = new SKPoint(X(i), (float)(area.Bottom - (points[i] - low) / (high - low) * area.Height));
                    if (line.IsEmpty) line.MoveTo(point); else line.LineTo(point);
                    canvas.DrawCircle(point, 3.5f, dot);
                }
                canvas.DrawPath(line, pen);
            }
        }
        for (int s = 0; s < series.Count; s++)
        {
            using var swatch = new SKPaint { Color = Palette[s % Palette.Length], IsAntialias = true };
            float x = 70 + (s % 2) * (width - 80) / 2f, y = legendTop + 20 * (s / 2);
            canvas.DrawRect(new SKRect(x, y - 10, x + 24, y - 6), swatch);
            canvas.DrawText(series[s].Name, x + 32, y, font, ink);
        }
        Microsoft.ML.SaPE2.Explain.Heatmap.SavePng(surface, path);
    }
}
