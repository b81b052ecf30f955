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
            AnsiConsole.MarkupLine($"Wrote {trainCount} training and {testCount} test images to [green]{Markup.Escape(folder)}[/].");
            return 0;
        }));
        return command;
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
