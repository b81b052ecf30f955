using Microsoft.ML.SaPE2.Training;
using SkiaSharp;

namespace Microsoft.ML.SaPE2.Explain;

/// <summary>Loss and accuracy per epoch, training and validation, as two side-by-side line charts.</summary>
internal static class TrainingCurves
{
    /// <summary>Writes the chart of <paramref name="history"/> to <paramref name="path"/> (PNG, 960×400).</summary>
    public static void Render(IReadOnlyList<EpochMetrics> history, string path)
    {
        if (history.Count == 0) throw new ArgumentException("There is no epoch to plot.", nameof(history));
        using var surface = SKSurface.Create(new SKImageInfo(960, 400));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        Panel(canvas, new SKRect(60, 40, 460, 340), "loss", history, h => h.TrainLoss, h => h.ValidationLoss);
        Panel(canvas, new SKRect(540, 40, 940, 340), "accuracy", history, h => h.TrainAccuracy, h => h.ValidationAccuracy);
        using var legend = new Label(14);
        using var trainingLegend = new Label(14, SKColors.SteelBlue);
        using var validationLegend = new Label(14, SKColors.DarkOrange);
        trainingLegend.Draw(canvas, "— training", 60, 380);
        validationLegend.Draw(canvas, "— validation", 180, 380);
        legend.Draw(canvas, "epoch →", 860, 380);
        Heatmap.SavePng(surface, path);
    }

    private static void Panel(SKCanvas canvas, SKRect area, string title, IReadOnlyList<EpochMetrics> history, Func<EpochMetrics, double> train,
        Func<EpochMetrics, double?> validation)
    {
        var values = history.Select(train).Concat(history.Select(validation).Where(v => v.HasValue).Select(v => v!.Value))
            .Where(double.IsFinite).ToList();
        double low = values.Count > 0 ? values.Min() : 0, high = values.Count > 0 ? values.Max() : 1;
        if (high - low < 1e-9) { low -= 0.5; high += 0.5; }
        using var axis = new SKPaint { Color = SKColors.Gray, StrokeWidth = 1, IsAntialias = true, Style = SKPaintStyle.Stroke };
        canvas.DrawRect(area, axis);
        using var text = new Label(13);
        using var heading = new Label(16);
        heading.Draw(canvas, title, area.Left, area.Top - 12);
        text.Draw(canvas, $"{high:G3}", area.Left - 55, area.Top + 12);
        text.Draw(canvas, $"{low:G3}", area.Left - 55, area.Bottom);
        text.Draw(canvas, "1", area.Left, area.Bottom + 16);
        text.Draw(canvas, $"{history.Count}", area.Right - 16, area.Bottom + 16);
        SKPoint At(int i, double v) => new(area.Left + (history.Count == 1 ? area.Width / 2 : area.Width * i / (history.Count - 1)),
            (float)(area.Bottom - (v - low) / (high - low) * area.Height));
        void Line(Func<int, double?> value, SKColor color)
        {
            using var paint = new SKPaint { Color = color, StrokeWidth = 2.5f, IsAntialias = true, Style = SKPaintStyle.Stroke };
            using var path = new SKPath();
            bool started = false;
            for (int i = 0; i < history.Count; i++)
            {
                if (value(i) is not { } v || !double.IsFinite(v)) continue;
                var p = At(i, v);
                if (started) path.LineTo(p); else path.MoveTo(p);
                started = true;
                canvas.DrawCircle(p, 3, new SKPaint { Color = color, IsAntialias = true });
            }
            canvas.DrawPath(path, paint);
        }
        Line(i => train(history[i]), SKColors.SteelBlue);
        Line(i => validation(history[i]), SKColors.DarkOrange);
    }
}
