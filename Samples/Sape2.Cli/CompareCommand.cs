using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.SaPE2;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>One finished run of a comparison.</summary>
/// <param name="Model">The trained model, relative to the comparison's folder.</param>
internal sealed record CompareRun(string Arm, int Seed, double Accuracy, double MacroAccuracy, double Seconds, int Epochs, string Model);

/// <summary>
/// `sape2 compare`: trains several encodings × seeds with otherwise identical settings on one data set and reports the
/// held-out accuracy of each encoding (mean, spread, 95% interval), its paired difference to a baseline, and its time.
/// Each finished run is written to runs.json at once, so a killed comparison resumes without retraining it.
/// </summary>
internal static class CompareCommand
{
    /// <summary>runs.json: the settings every run shares and the finished runs.</summary>
    internal sealed record Record(string Settings, List<CompareRun> Runs)
    {
        /// <summary>The record in <paramref name="folder"/>, or null; a damaged or hand-edited file is refused, naming what is wrong.</summary>
        public static Record? Read(string folder)
        {
            string file = Path.Combine(folder, "runs.json");
            if (!File.Exists(file)) return null;
            Record? record;
            try
            {
                record = JsonSerializer.Deserialize<Record>(File.ReadAllText(file));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"'{file}' is damaged ({e.Message}); delete it to start the comparison over, or pass another --out.");
            }
            if (record?.Settings is null || record.Runs is null)
                throw new InvalidDataException($"'{file}' is not a comparison record (no Settings or Runs); pass another --out.");
            var seen = new HashSet<(string, int)>();
            foreach (var run in record.Runs)
            {
                string? problem =
                    string.IsNullOrWhiteSpace(run.Arm) ? "has no encoding (Arm)"
                    : run.Seed < 1 ? $"has seed {run.Seed}"
                    : !(run.Accuracy is >= 0 and <= 1) || !(run.MacroAccuracy is >= 0 and <= 1) ? $"has accuracy {run.Accuracy} / macro " +
                        $"{run.MacroAccuracy}, outside 0–1"
                    : !(run.Seconds > 0 && double.IsFinite(run.Seconds)) || run.Epochs < 1 ? $"has {run.Seconds} s over {run.Epochs} epoch(s)"
                    : !seen.Add((run.Arm, run.Seed)) ? "appears twice"
                    : string.IsNullOrEmpty(run.Model) || !File.Exists(Path.Combine(folder, run.Model)) ? $"names a model '{run.Model}' that " +
                        "does not exist"
                    : null;
                if (problem is not null)
                    throw new InvalidDataException($"'{file}': the run of {run.Arm}, seed {run.Seed} {problem}. The file was edited or " +
                        "damaged; delete that run (it is trained again) or the file.");
            }
            return record;
        }
    }

    public static Command Create(Option<bool> verbose)
    {
        var inputs = new InputOptions(Sape2ImageClassificationTrainer.Defaults.MaxPixels);
        var flags = new TrainerFlags();
        var arms = new Option<string>("--encodings") { Description = "Encodings to compare, comma-separated, each with an optional +APE " +
            "and ablation settings after colons: key, query, sigma+, sigma-, cls, avg, seqpool (e.g. Sape2+APE:query:cls).",
            DefaultValueFactory = _ => "Absolute,RopeMixed+APE,Cope+APE,Sape2+APE,Sape2" };
        var seeds = new Option<int>("--seeds") { Description = "Runs per encoding (seeds 1 … N), at least 2.", DefaultValueFactory = _ => 3 };
        var baseline = new Option<string>("--baseline") { Description = "The encoding every other one is compared with, seed by seed.",
            DefaultValueFactory = _ => "Absolute" };
        var output = new Option<string>("--out") { Description = "Folder for runs.json, compare.md, compare.png and the trained models " +
            "(models/); a runs.json there is resumed.", DefaultValueFactory = _ => "sape2-compare" };
        var command = new Command("compare", "Train several position encodings × seeds, otherwise identical, and compare their held-out " +
            "accuracy with confidence intervals.") { arms, seeds, baseline, output };
        flags.AddTo(command);
        inputs.AddTo(command);
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            var compared = parse.GetValue(arms)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(Arm.Parse).Distinct().ToList();
            var reference = Arm.Parse(parse.GetValue(baseline)!);
            if (!compared.Contains(reference))
                throw new ArgumentException($"--baseline {reference} is not among --encodings ({string.Join(", ", compared)}).");
            int runsPerArm = parse.GetValue(seeds);
            if (runsPerArm < 2) throw new ArgumentException($"--seeds must be at least 2 for an interval; got {runsPerArm}.");
            var (train, test) = inputs.Load(parse);
            var options = flags.Options(parse, parse.GetValue(inputs.MaxPixels));
            return Compare(train, test, options, compared, reference, runsPerArm, parse.GetValue(output)!);
        }));
        return command;
    }

    private static int Compare(List<ImageRow> train, List<ImageRow> test, Sape2ImageClassificationTrainer.Options template, List<Arm> arms,
        Arm reference, int seeds, string folder)
    {
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "runs.json");
        string settings = $"training images: {ImageRows.Fingerprint(train)}\ntest images: {ImageRows.Fingerprint(test)}\noptions:\n" +
            SharedOptions(template);
        var record = Record.Read(folder) ?? new Record(settings, []);
        if (record.Settings != settings)
        {
            var (recorded, now) = FirstDifference(record.Settings, settings);
            throw new InvalidOperationException($"'{file}' holds runs made with other data or settings: it records '{recorded}', this run " +
                $"has '{now}'. Pass the same data and flags to resume it, or another --out.");
        }
        for (int seed = 1; seed <= seeds; seed++)   // seed by seed: a comparison stopped early still has every encoding's first seeds
            foreach (var arm in arms)
            {
                if (record.Runs.Any(r => r.Arm == arm.ToString() && r.Seed == seed)) continue;
                var run = Train(train, test, template, arm, seed, folder);
                AnsiConsole.MarkupLine($"{Markup.Escape(arm.ToString())}, seed {seed}: held-out accuracy {run.Accuracy:P2}, {run.Seconds:F0} s");
                record.Runs.Add(run);
                ToolData.WriteAtomically(file, temporary => File.WriteAllText(temporary, JsonSerializer.Serialize(record)));
            }
        var runs = record.Runs.Where(r => arms.Any(a => a.ToString() == r.Arm) && r.Seed <= seeds).ToList();
        string table = CompareReport.Markdown(runs, arms, reference);
        ToolData.WriteAtomically(Path.Combine(folder, "compare.md"), temporary => File.WriteAllText(temporary,
            $"# sape2 compare\n\n{settings.Replace("\n", "\n    ")}\n\n{table}"));
        CompareReport.Chart(runs, arms, Path.Combine(folder, "compare.png"));
        Console.WriteLine(table);
        return 0;
    }

    /// <summary>The first line in which two settings texts differ (a missing line reads as "nothing").</summary>
    private static (string Recorded, string Now) FirstDifference(string recorded, string now)
    {
        var (a, b) = (recorded.Split('\n'), now.Split('\n'));
        for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            string x = i < a.Length ? a[i].Trim() : "nothing", y = i < b.Length ? b[i].Trim() : "nothing";
            if (x != y) return (x, y);
        }
        return (recorded, now);
    }

    /// <summary>The options every arm shares, as C#: the template's, less the encoding and seed each run sets.</summary>
    private static string SharedOptions(Sape2ImageClassificationTrainer.Options template) => string.Join("\n",
        CodeGenerator.OptionsInitializer(template, "  ").Split('\n').Where(line => !line.TrimStart().StartsWith("PositionEncoding =") &&
            !line.TrimStart().StartsWith("AbsolutePosition =") && !line.TrimStart().StartsWith("Seed =")));

    private static CompareRun Train(List<ImageRow> trainRows, List<ImageRow> testRows, Sape2ImageClassificationTrainer.Options template,
        Arm arm, int seed, string folder)
    {
        var ml = new MLContext(seed: seed);
        var data = ToolData.Prepare(ml, trainRows, testRows);
        var options = arm.Options(template, seed);
        (options.ValidationSet, options.ValidationSetFraction) = (data.Validation, null);   // the tool's own split, the same for every run
        var clock = Stopwatch.StartNew();
        try
        {
            using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(data.Train);
            double seconds = clock.Elapsed.TotalSeconds;
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data.Test));
            string modelFile = Path.Combine("models", $"{arm.FileName}.seed{seed}.zip");
            Directory.CreateDirectory(Path.Combine(folder, "models"));
            ToolData.SaveModel(ml, model, data.InputSchema, Path.Combine(folder, modelFile));
            return new CompareRun(arm.ToString(), seed, metrics.MicroAccuracy, metrics.MacroAccuracy, seconds, model.TrainingHistory.Count,
                modelFile);
        }
        catch (Exception e) when (data.WithFileName(e) is var named && named != e)
        {
            throw named;
        }
    }
}
