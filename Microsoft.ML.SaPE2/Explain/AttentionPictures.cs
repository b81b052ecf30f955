using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using SkiaSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Explain;

/// <summary>
/// What the model attends to, drawn over the image: for a chosen patch, the SaPE² bias to every other patch in each
/// layer and head (the paper's Figure 4 kind of picture), and the CLS token's attention in each layer and head.
/// </summary>
internal static class AttentionPictures
{
    private const int Tile = 160;

    /// <summary>
    /// Writes <c>sape2-bias.png</c> (when the model uses SaPE²) and <c>cls-attention.png</c> (when it has a CLS
    /// token) for one decoded image into <paramref name="folder"/>; returns the files written.
    /// </summary>
    /// <param name="classifier">The trained model.</param>
    /// <param name="pixels">One image decoded to <see cref="ImageClassifier.Format"/> (C × H × W bytes).</param>
    /// <param name="patchRow">Row of the reference patch for the bias map.</param>
    /// <param name="patchColumn">Column of the reference patch.</param>
    /// <param name="folder">Where the PNG files go.</param>
    public static IReadOnlyList<string> Render(ImageClassifier classifier, byte[] pixels, int patchRow, int patchColumn, string folder)
    {
        var format = classifier.Format;
        using var scope = NewDisposeScope();
        var input = Data.Preprocessing.ToModelInput(pixels, 1, format, classifier.Normalization).to(classifier.Model.parameters().First().device);
        var layers = classifier.Model.Inspect(input, out var grid);
        if (patchRow < 0 || patchRow >= grid.Height || patchColumn < 0 || patchColumn >= grid.Width)
            throw new ArgumentOutOfRangeException(nameof(patchRow), $"Patch ({patchRow}, {patchColumn}) is outside the {grid} patch grid.");
        int reference = patchRow * grid.Width + patchColumn, prefix = classifier.Config.PrefixTokens;
        var written = new List<string>();
        if (layers[0].Sape2Bias is not null)
        {
            var maps = layers.Select(l => l.Sape2Bias![0].select(1, reference).reshape(-1, grid.Height,
                grid.Width)).ToList();   // per layer: (h, H, W)
            string path = Path.Combine(folder, "sape2-bias.png");
            Grid(pixels, format, maps, grid, $"SaPE2 bias from patch ({patchRow}, {patchColumn}); lower = closer", (patchRow, patchColumn), path);
            written.Add(path);
        }
        if (prefix > 0)
        {
            var maps = layers.Select(l => l.Weights[0].select(1, 0).narrow(1, prefix, grid.Count).reshape(-1, grid.Height, grid.Width)).ToList();
            string path = Path.Combine(folder, "cls-attention.png");
            Grid(pixels, format, maps, grid, "CLS attention per layer (rows) and head (columns)", null, path);
            written.Add(path);
        }
        return written;
    }

    /// <summary>One tile per layer (row) and head (column): the image in gray with the map over it.</summary>
    private static void Grid(byte[] pixels, Data.ImageFormat format, List<Tensor> maps, PatchGrid grid, string title, (int Row, int Column)? mark,
        string path)
    {
        int layers = maps.Count, heads = (int)maps[0].shape[0];
        using var surface = SKSurface.Create(new SKImageInfo(70 + heads * (Tile + 8), 40 + layers * (Tile + 8)));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var heading = new Label(15);
        using var rowLabel = new Label(12);
        using var columnLabel = new Label(11);
        heading.Draw(canvas, title, 8, 24);
        using var photo = Gray(pixels, format);
        for (int l = 0; l < layers; l++)
        {
            rowLabel.Draw(canvas, $"layer {l + 1}", 4, 40 + l * (Tile + 8) + Tile / 2f);
            for (int h = 0; h < heads; h++)
            {
                var values = maps[l][h].to(ScalarType.Float32).cpu().data<float>().ToArray();
                double low = values.Min(), high = values.Max();
                var tile = SKRect.Create(70 + h * (Tile + 8), 40 + l * (Tile + 8), Tile, Tile);
                canvas.DrawBitmap(photo, tile);
                float cw = Tile / (float)grid.Width, ch = Tile / (float)grid.Height;
                for (int r = 0; r < grid.Height; r++)
                    for (int c = 0; c < grid.Width; c++)
                        canvas.DrawRect(SKRect.Create(tile.Left + c * cw, tile.Top + r * ch, cw, ch),
                            new SKPaint { Color = Heatmap.Color(values[r * grid.Width + c], low, high, 150) });
                if (mark is { } m)
                    canvas.DrawRect(SKRect.Create(tile.Left + m.Column * cw, tile.Top + m.Row * ch, cw, ch), new SKPaint { Color = SKColors.Red,
                        Style = SKPaintStyle.Stroke, StrokeWidth = 2 });
                if (l == 0) columnLabel.Draw(canvas, $"head {h + 1}", tile.Left, tile.Top - 2);
            }
        }
        Heatmap.SavePng(surface, path);
    }

    private static SKBitmap Gray(byte[] pixels, Data.ImageFormat format)
    {
        var bitmap = new SKBitmap(format.Width, format.Height);
        int plane = format.Width * format.Height;
        for (int y = 0; y < format.Height; y++)
            for (int x = 0; x < format.Width; x++)
            {
                int i = y * format.Width + x;
                byte v = format.Channels == 1 ? pixels[i] : (byte)((pixels[i] + pixels[plane + i] + pixels[2 * plane + i]) / 3);
                bitmap.SetPixel(x, y, new SKColor(v, v, v));
            }
        return bitmap;
    }
}
