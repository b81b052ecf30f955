using SkiaSharp;

namespace Sape2.Benchmarks;

/// <summary>
/// Photo-shaped stand-ins for ML.NET's flowers sample (no photo set ships with the repository): JPEGs of 400–600 ×
/// 300–450 pixels, five classes, each a coloured shape of the class's kind at a random place, size and hue over a
/// noisy background. They measure time and memory at that shape, not the accuracy real photos would give.
/// </summary>
internal static class SyntheticPhotos
{
    /// <summary>Writes <paramref name="count"/> photos into <paramref name="root"/>/train and /test (every fifth of a class); returns the
    /// root.</summary>
    public static string Write(string root, int count, int seed = 1)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int kind = i % 5, width = random.Next(400, 601), height = random.Next(300, 451);
            string folder = Path.Combine(root, i / 5 % 5 == 4 ? "test" : "train", $"class{kind}");   // every fifth photo of a class is a test photo
            Directory.CreateDirectory(folder);
            using var bitmap = new SKBitmap(width, height);
            using (var canvas = new SKCanvas(bitmap))
            {
                canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
                using var noise = new SKPaint { Color = new SKColor(0, 0, 0, 40) };
                for (int n = 0; n < 200; n++) canvas.DrawCircle(random.Next(width), random.Next(height), random.Next(2, 12), noise);
                using var paint = new SKPaint { Color = SKColor.FromHsv(random.Next(360), 80, 90), IsAntialias = true };
                int size = random.Next(40, height / 3), x = random.Next(size, width - size), y = random.Next(size, height - size);
                switch (kind)
                {
                    case 0: canvas.DrawCircle(x, y, size, paint); break;
                    case 1: canvas.DrawRect(x - size, y - size, 2 * size, 2 * size, paint); break;
                    case 2: canvas.DrawOval(x, y, size, size / 3, paint); break;
                    case 3:
                        using (var path = new SKPath())
                        {
                            path.MoveTo(x, y - size); path.LineTo(x + size, y + size); path.LineTo(x - size, y + size); path.Close();
                            canvas.DrawPath(path, paint);
                        }
                        break;
                    default: canvas.DrawRect(x - size, y - size / 4, 2 * size, size / 2, paint); canvas.DrawRect(x - size / 4, y - size,
                        size / 2, 2 * size, paint); break;
                }
            }
            using var image = SKImage.FromBitmap(bitmap);
            using var data = image.Encode(SKEncodedImageFormat.Jpeg, 85);
            File.WriteAllBytes(Path.Combine(folder, $"photo{i:D4}.jpg"), data.ToArray());
        }
        return root;
    }
}
