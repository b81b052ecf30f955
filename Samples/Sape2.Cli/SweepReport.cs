using System.Globalization;
using System.Text;
using Microsoft.ML.SaPE2.AutoML;
using SkiaSharp;

namespace Sape2.Cli;

/// <summary>`sape2 sweep`'s outputs: the leaderboard as Markdown and a chart of every trial's validation accuracy against time.</summary>
internal static class SweepReport
{
    public static string Leaderboard(IReadOnlyList<Sape2TrialResult> trials, Sape2TrialResult best, string metric)
    {
        var ranked = trials.Where(t => t.TrialId == best.TrialId)
            .Concat(trials.Where(t => t.TrialId != best.TrialId).OrderBy(t => t.Loss).ThenBy(t => t.TrialId)).ToList();
        var text = new StringBuilder();
        text.AppendLine($"| rank | trial | status | encoding | lr | weight decay | warm-up | smoothing | augmentation | drop-path | patch | " +
            $"preset | EMA | epochs | {metric} | seconds | note |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (int i = 0; i < ranked.Count; i++)
        {
            var t = ranked[i];
            var p = t.Parameters;
            string augmentation = p.Augmentation switch
            {
                Sape2AugmentationLevel.RandAugment => $"RandAugment m{p.RandAugmentMagnitude:F1}",
                Sape2AugmentationLevel.MixupCutmix => $"RandAugment m{p.RandAugmentMagnitude:F1} + mix p{p.MixProbability:F2}",
                _ => $"{p.Augmentation}",
            };
            string rank = double.IsFinite(t.Metric) ? $"{i + 1}" : "–";
            string value = double.IsFinite(t.Metric) ? t.Metric.ToString("F4", CultureInfo.InvariantCulture) : "–";
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {rank} | {t.TrialId} | {t.Status} | " +
                $"{SweepMonitor.Encoding(p)} | {p.LearningRate:G3} | {p.WeightDecay:G3} | {p.WarmupFraction:F3} | {p.LabelSmoothing:F3} | " +
                $"{augmentation} | {p.DropPathRate:F3} | {(p.PatchSize == 0 ? "auto" : p.PatchSize)} | {p.Preset} | {p.EmaDecay} | " +
                $"{t.EpochsTrained}/{t.PlannedEpochs} | {value} | " +
                $"{t.Seconds:F1} | {(t.TrialId == best.TrialId ? "**best** " : "")}{t.Reason?.Replace("|", "/")} |"));
        }
        return text.ToString();
    }

    /// <summary>Validation accuracy after each epoch against seconds since the sweep began, one line per trial: the best in green,
    /// completed ones in blue, pruned ones in grey ending in a cross, cancelled ones dashed.</summary>
    public static void Chart(IReadOnlyList<SweepMonitor.Trial> trials, int bestTrial, string path)
    {
        const int width = 1000, height = 560, left = 70, top = 40, right = 960, bottom = 490;
        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        var curves = trials.Select(t => (Trial: t, Points: Snapshot(t))).Where(c => c.Points.Count > 0).ToList();
        double end = Math.Max(1, curves.SelectMany(c => c.Points).Select(p => p.Seconds).DefaultIfEmpty(1).Max());
        double low = Math.Max(0, Math.Floor(curves.SelectMany(c => c.Points).Select(p => p.Accuracy).DefaultIfEmpty(0).Min() * 10) / 10);
        SKPoint At((double Seconds, double Accuracy) p) => new((float)(left + p.Seconds / end * (right - left)),
            (float)(bottom - (p.Accuracy - low) / Math.Max(1e-9, 1 - low) * (bottom - top)));
        using var axis = new SKPaint { Color = SKColors.Gray, Style = SKPaintStyle.Stroke, StrokeWidth = 1, IsAntialias = true };
        using var font = new SKFont(SKTypeface.Default, 14);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        canvas.DrawRect(new SKRect(left, top, right, bottom), axis);
        canvas.DrawText("validation accuracy per epoch against time; best green, pruned grey ×, cancelled dashed", left, top - 14, font, ink);
        canvas.DrawText($"{low:P0}", 10, bottom, font, ink);
        canvas.DrawText("100 %", 10, top + 12, font, ink);
        canvas.DrawText("0 s", left, bottom + 22, font, ink);
        canvas.DrawText($"{end:F0} s", right - 40, bottom + 22, font, ink);
        foreach (var (trial, points) in curves.OrderBy(c => c.Trial.Settings.TrialId == bestTrial))
        {
            var status = trial.Result?.Status;
            var color = trial.Settings.TrialId == bestTrial ? SKColors.ForestGreen : status == Sape2TrialStatus.Pruned ? SKColors.DarkGray
                : SKColors.SteelBlue;
            using var line = new SKPaint
            {
                Color = color, Style = SKPaintStyle.Stroke, IsAntialias = true, StrokeWidth = trial.Settings.TrialId == bestTrial ? 3.5f : 1.8f,
                PathEffect = status == Sape2TrialStatus.Cancelled ? SKPathEffect.CreateDash(new[] { 6f, 4f }, 0) : null,
            };
            using var pathLine = new SKPath();
            pathLine.MoveTo(At(points[0]));
            foreach (var point in points.Skip(1)) pathLine.LineTo(At(point));
            canvas.DrawPath(pathLine, line);
            using var dot = new SKPaint { Color = color, IsAntialias = true };
            foreach (var point in points) canvas.DrawCircle(At(point), 3, dot);
            var last = At(points[^1]);
            if (status == Sape2TrialStatus.Pruned)
            {
                canvas.DrawLine(last.X - 4, last.Y - 4, last.X + 4, last.Y + 4, line);
                canvas.DrawLine(last.X - 4, last.Y + 4, last.X + 4, last.Y - 4, line);
            }
            using var label = new SKPaint { Color = color, IsAntialias = true };
            using var small = new SKFont(SKTypeface.Default, 11);
            canvas.DrawText($"{trial.Settings.TrialId}", last.X + 5, last.Y - 3, small, label);
        }
        Microsoft.ML.SaPE2.Explain.Heatmap.SavePng(surface, path);
    }

    private static List<(double Seconds, double Accuracy)> Snapshot(SweepMonitor.Trial trial)
    {
        lock (trial.Curve) return trial.Curve.ToList();
    }
}
