using System.CommandLine;
using SkiaSharp;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>`sape2 patterns`: writes the repeated-pattern task (<see cref="RepeatedPatterns"/>) as a train/ and test/ image folder.</summary>
internal static class PatternsCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var output = new Option<string>("--out") { Description = "Folder to write train/<class>/*.png and test/<class>/*.png into.",
            DefaultValueFactory = _ => "sape2-patterns" };
        var train = new Option<int>("--train") { Description = "Training images (a multiple of 5 keeps the classes equal).",
            DefaultValueFactory = _ => 4000 };
        var test = new Option<int>("--test") { Description = "Test images, drawn after the training ones.", DefaultValueFactory = _ => 2000 };
        var seed = new Option<int>("--seed") { Description = "The set: the same seed writes the same images.", DefaultValueFactory = _ => 1 };
        var command = new Command("patterns", "Write a synthetic task whose label is the arrangement of repeated objects (row, column, " +
            "diagonal, corner, apart) as an image folder for train/compare.") { output, train, test, seed };
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            string folder = parse.GetValue(output)!;
            int trainCount = parse.GetValue(train), testCount = parse.GetValue(test);
            if (trainCount < RepeatedPatterns.Classes.Length || testCount < RepeatedPatterns.Classes.Length)
                throw new ArgumentException($"--train and --test must be at least {RepeatedPatterns.Classes.Length} (one image a class); got " +
                    $"{trainCount} and {testCount}.");
            if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
                throw new IOException($"'{folder}' is not empty; pass a new --out folder.");
            Write(Path.Combine(folder, "train"), parse.GetValue(seed), 0, trainCount);
            Write(Path.Combine(folder, "test"), parse.GetValue(seed), trainCount, testCount);
            Preview(Path.Combine(folder, "preview.png"), parse.GetValue(seed));
            AnsiConsole.MarkupLine($"Wrote {trainCount} training and {testCount} test images to [green]{Markup.Escape(folder)}[/], and " +
                "preview.png (the first training images of each class, one row a class).");
            return 0;
        }));
        return command;
    }

    /// <summary>The first four training images of every class, four times enlarged, one row a class with its name.</summary>
    private static void Preview(string path, int seed)
    {
        const int scale = 4, gap = 8, label = 90, perClass = 4, side = RepeatedPatterns.Side * scale;
        var classes = RepeatedPatterns.Classes;
        using var surface = SKSurface.Create(new SKImageInfo(label + perClass * (side + gap), classes.Length * (side + gap) + gap));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 16);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        for (int c = 0; c < classes.Length; c++)
        {
            float top = gap + c * (side + gap);
            canvas.DrawText(classes[c], 8, top + side / 2f, font, ink);
            for (int i = 0; i < perClass; i++)   // labels cycle through the classes: image c + k·classes is of class c
            {
                var (pixels, _) = RepeatedPatterns.Image(seed, c + i * classes.Length);
                using var image = SKImage.FromPixelCopy(new SKImageInfo(side, side, SKColorType.Gray8, SKAlphaType.Opaque), Enlarged(pixels, scale));
                canvas.DrawImage(image, label + i * (side + gap), top);
            }
        }
        Microsoft.ML.SaPE2.Explain.Heatmap.SavePng(surface, path);
    }

    /// <summary>Each pixel of the square image as a block of <paramref name="scale"/>² pixels, so that enlarged pixels stay square.</summary>
    private static byte[] Enlarged(byte[] pixels, int scale)
    {
        int side = RepeatedPatterns.Side, large = side * scale;
        var enlarged = new byte[large * large];
        for (int y = 0; y < large; y++)
            for (int x = 0; x < large; x++)
                enlarged[y * large + x] = pixels[y / scale * side + x / scale];
        return enlarged;
    }

    private static void Write(string folder, int seed, int first, int count)
    {
        foreach (string name in RepeatedPatterns.Classes) Directory.CreateDirectory(Path.Combine(folder, name));
        Parallel.For(first, first + count, index =>
        {
            var (pixels, label) = RepeatedPatterns.Image(seed, index);
            using var bitmap = new SKBitmap(new SKImageInfo(RepeatedPatterns.Side, RepeatedPatterns.Side, SKColorType.Gray8, SKAlphaType.Opaque));
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
            using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            string path = Path.Combine(folder, RepeatedPatterns.Classes[label], $"{index:D6}.png");
            ToolData.WriteAtomically(path, temporary => File.WriteAllBytes(temporary, png.ToArray()));
        });
    }
}
