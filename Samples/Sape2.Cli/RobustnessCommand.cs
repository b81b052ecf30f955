using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>
/// `sape2 robustness`: the paper's resolution and translation claims, measured on the models a `sape2 compare` trained —
/// each model scored on its test set rescaled to larger sides and shifted by whole pixels, with the share of predictions
/// that stay the same and, for SaPE², how often its positions reach the end of its table.
/// </summary>
internal static class RobustnessCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var inputs = new InputOptions(Microsoft.ML.SaPE2.Sape2ImageClassificationTrainer.Defaults.MaxPixels);
        var compare = new Option<string>("--compare") { Description = "The folder of a 'sape2 compare' run (runs.json and models/).",
            Required = true };
        var arms = new Option<string?>("--encodings") { Description = "Only these of the comparison's encodings, comma-separated (default: " +
            "every one)." };
        var scales = new Option<string>("--scales") { Description = "Input sides as multiples of the training side, comma-separated; each is " +
            "rounded to whole tokens.", DefaultValueFactory = _ => "1,1.25,1.5,2" };
        var shifts = new Option<string>("--shifts") { Description = "Shifts right and down in pixels, comma-separated (with 4-pixel tokens, " +
            "4 and 8 are whole tokens).", DefaultValueFactory = _ => "1,2,3,4,8" };
        var testLimit = new Option<int?>("--test-limit") { Description = "Score only the first N test images." };
        var output = new Option<string?>("--out") { Description = "Folder for robustness.json, robustness.md, resolution.png and " +
            "translation.png (default: the --compare folder). A model already scored there at the same scales and shifts is not scored " +
            "again; delete robustness.json after changing the test images." };
        var command = new Command("robustness", "Score the models of a 'sape2 compare' run on larger and shifted test images: accuracy, " +
            "unchanged predictions and SaPE²'s position clamp.") { compare, arms, scales, shifts, testLimit, output };
        inputs.AddTo(command);
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            string folder = parse.GetValue(compare)!;
            var record = CompareCommand.Record.Read(folder)
                ?? throw new FileNotFoundException($"'{folder}' holds no runs.json; pass the --out folder of a 'sape2 compare' run.");
            var chosen = parse.GetValue(arms) is { } names
                ? names.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(n => Arm.Parse(n).ToString()).ToList()
                : record.Runs.Select(r => r.Arm).Distinct().ToList();
            var runs = record.Runs.Where(r => chosen.Contains(r.Arm)).OrderBy(r => chosen.IndexOf(r.Arm)).ThenBy(r => r.Seed).ToList();
            if (runs.Count == 0)
                throw new ArgumentException($"No run of {string.Join(", ", chosen)} in '{folder}'; it has {string.Join(", ",
                    record.Runs.Select(r => r.Arm).Distinct())}.");
            var test = inputs.Load(parse).Test;
            if (parse.GetValue(testLimit) is { } limit)
                test = limit > 0 ? test.Take(limit).ToList() : throw new ArgumentException($"--test-limit must be positive; got {limit}.");
            return Run(folder, runs, chosen, test, Numbers(parse.GetValue(scales)!, "--scales", v => v >= 1),
                Numbers(parse.GetValue(shifts)!, "--shifts", v => v >= 1 && v == Math.Floor(v)).Select(v => (int)v).ToList(),
                parse.GetValue(output) ?? folder);
        }));
        return command;
    }

    private static int Run(string folder, List<CompareRun> runs, List<string> arms, List<ImageRow> test, List<double> scales, List<int> shifts,
        string output)
    {
        CheckSizes(folder, runs, scales);
        Directory.CreateDirectory(output);
        string file = Path.Combine(output, "robustness.json");
        var kept = File.Exists(file) ? JsonSerializer.Deserialize<List<RobustnessResult>>(File.ReadAllText(file)) ?? [] : [];
        var results = new List<RobustnessResult>();
        foreach (var run in runs)
        {
            var earlier = kept.Where(r => r.Arm == run.Arm && r.Seed == run.Seed).ToList();
            if (scales.All(s => earlier.Any(r => r.Study == "resolution" && r.Amount == s)) &&
                shifts.All(s => earlier.Any(r => r.Study == "translation" && r.Amount == s)))
            {
                results.AddRange(earlier.Where(r => r.Study == "resolution" ? scales.Contains(r.Amount) : shifts.Contains((int)r.Amount)));
                continue;   // scored before with these scales and shifts: robustness.json keeps it
            }
            string path = Path.Combine(folder, run.Model ?? throw new InvalidOperationException(
                $"The run {run.Arm}, seed {run.Seed} in '{folder}' has no saved model (made before compare saved them); run compare again."));
            using var loaded = ModelCommands.LoadedModel.Open(path);
            var classifier = loaded.Sape2.Classifier;
            var (images, labels) = RobustnessStudy.TestSet(classifier, test);
            List<RobustnessResult> scored;
            using (images)
                scored = RobustnessStudy.Run(classifier, run.Arm, run.Seed, images, labels, scales, shifts);
            results.AddRange(scored);
            AnsiConsole.MarkupLine(Markup.Escape($"{run.Arm}, seed {run.Seed}: " + string.Join(", ", scored.Select(r =>
                string.Create(CultureInfo.InvariantCulture, $"{(r.Study == "resolution" ? $"{r.Side} px" : $"shift {r.Amount}")}" +
                    $"{(r.Interpolated ? " (interpolated)" : "")} {r.Accuracy:P1}")))));
        }
        ToolData.WriteAtomically(file, temporary => File.WriteAllText(temporary,
            JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true })));
        string report = RobustnessReport.Markdown(results, arms, test.Count);
        ToolData.WriteAtomically(Path.Combine(output, "robustness.md"), temporary => File.WriteAllText(temporary, report));
        RobustnessReport.Charts(results, arms, output);
        Console.WriteLine(report);
        return 0;
    }

    /// <summary>
    /// Before any model is scored: every model at every scale stays within the token limit training has and fits in free memory
    /// (the estimate scoring in batches takes), or the scale that does not is refused naming the flag.
    /// </summary>
    private static void CheckSizes(string folder, List<CompareRun> runs, List<double> scales)
    {
        foreach (var run in runs.DistinctBy(r => r.Arm))
        {
            using var loaded = ModelCommands.LoadedModel.Open(Path.Combine(folder, run.Model));
            var config = loaded.Sape2.Classifier.Config;
            foreach (double scale in scales)
            {
                int side = RobustnessStudy.Side(config.ImageHeight * scale, config.PatchSize);
                int sideX = RobustnessStudy.Side(config.ImageWidth * scale, config.PatchSize);
                var scaled = config with { ImageHeight = side, ImageWidth = sideX };
                long tokens = (long)scaled.GridHeight * scaled.GridWidth;
                string at = string.Create(CultureInfo.InvariantCulture, $"--scales {scale}: {run.Arm} at {side}×{sideX} pixels");
                if (tokens > Microsoft.ML.SaPE2.Modeling.VitConfig.MaxTokens)
                    throw new ArgumentException($"{at} is {scaled.GridHeight}×{scaled.GridWidth} = {tokens:N0} tokens per image; the limit is " +
                        $"{Microsoft.ML.SaPE2.Modeling.VitConfig.MaxTokens:N0}, as for training (attention holds tokens² values per head). " +
                        "Use smaller scales.");
                long needed = Microsoft.ML.SaPE2.Training.MemoryEstimate.ForScoring(scaled, RobustnessStudy.BatchSize);
                if (Microsoft.ML.SaPE2.Training.MemoryEstimate.AvailableBytes(TorchSharp.torch.CPU) is { } free && needed > free)
                    throw new InsufficientMemoryException($"{at} would need about " +
                        $"{Microsoft.ML.SaPE2.Training.MemoryEstimate.Format(needed)} to score in batches of {RobustnessStudy.BatchSize}, but " +
                        $"{Microsoft.ML.SaPE2.Training.MemoryEstimate.Format(free)} is free. Use smaller scales.");
            }
        }
    }

    private static List<double> Numbers(string text, string flag, Func<double, bool> valid)
    {
        var values = new List<double>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            values.Add(double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && valid(v) ? v
                : throw new ArgumentException($"{flag}: '{part}' is not allowed here " +
                    $"({(flag == "--scales" ? "a number ≥ 1" : "a whole number ≥ 1")})."));
        return values.Count > 0 ? values.Distinct().Order().ToList() : throw new ArgumentException($"{flag} names no value.");
    }
}
