using SkiaSharp;

namespace Microsoft.ML.SaPE2.Explain;

/// <summary>A confusion-matrix heat map: rows are true classes, columns predicted ones, each cell its count.</summary>
internal static class ConfusionMatrixImage
{
    /// <summary>Writes the heat map of <paramref name="counts"/>[true, predicted] to <paramref name="path"/> (PNG).</summary>
    public static void Render(double[,] counts, IReadOnlyList<string> classNames, string path)
    {
        int n = counts.GetLength(0);
        if (n == 0 || counts.GetLength(1) != n || classNames.Count != n)
            throw new ArgumentException($"Need a square matrix with one name per class; got {counts.GetLength(0)}×{counts.GetLength(1)} and " +
                $"{classNames.Count} names.", nameof(counts));
        int cell = Math.Clamp(480 / n, 8, 48), margin = 130;
        using var surface = SKSurface.Create(new SKImageInfo(margin + n * cell + 20, margin + n * cell + 20));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        double max = 0;
        foreach (double c in counts) max = Math.Max(max, c);
        using var text = new Label(Math.Min(12, cell * 0.45f));
        using var textOnDark = new Label(text.Size, SKColors.White);
        using var label = new Label(12);
        for (int t = 0; t < n; t++)
        {
            label.Draw(canvas, Short(classNames[t]), 4, margin + t * cell + cell * 0.65f);
            canvas.Save();
            canvas.Translate(margin + t * cell + cell * 0.65f, margin - 6);
            canvas.RotateDegrees(-60);
            label.Draw(canvas, Short(classNames[t]), 0, 0);
            canvas.Restore();
            for (int p = 0; p < n; p++)
            {
                var rect = SKRect.Create(margin + p * cell, margin + t * cell, cell - 1, cell - 1);
                canvas.DrawRect(rect, new SKPaint { Color = Heatmap.Color(counts[t, p], 0, max) });
                if (cell >= 20 && counts[t, p] > 0)
                    (counts[t, p] > max * 0.6 ? text : textOnDark).Draw(canvas, $"{counts[t, p]:0}", rect.Left + 3, rect.MidY + 4);
            }
        }
        label.Draw(canvas, "true ↓  predicted →", 4, 16);
        Heatmap.SavePng(surface, path);
    }

    private static string Short(string name) => name.Length > 16 ? name[..15] + "…" : name;
}
