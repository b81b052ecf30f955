using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>One arm of a comparison: a position encoding with or without the learned absolute embedding ("Sape2+APE").</summary>
internal sealed record Arm(PositionEncodingKind Encoding, bool AbsolutePosition)
{
    /// <summary>The encoding, "+APE" where the model adds the absolute embedding to it (the model's own rule).</summary>
    public override string ToString()
    {
        var config = new VitConfig { PositionEncoding = Encoding, AbsolutePosition = AbsolutePosition };
        bool ape = Encoding != PositionEncodingKind.Absolute && PositionEncodingFactory.UsesAbsoluteEmbedding(config);
        return $"{Encoding}{(ape ? "+APE" : "")}";
    }

    public static Arm Parse(string text)
    {
        string name = text.Trim();
        bool ape = name.EndsWith("+APE", StringComparison.OrdinalIgnoreCase);
        if (ape) name = name[..^4];
        if (!Enum.TryParse<PositionEncodingKind>(name, ignoreCase: true, out var kind))
            throw new ArgumentException($"'{text}' is not an encoding: use {string.Join(", ", Enum.GetNames<PositionEncodingKind>())}, each with " +
                "an optional +APE (e.g. Sape2+APE).");
        return new Arm(kind, ape || kind == PositionEncodingKind.Absolute);
    }
}

/// <summary>One finished run of a comparison.</summary>
internal sealed record CompareRun(string Arm, int Seed, double Accuracy, double MacroAccuracy, double Seconds, int Epochs);

/// <summary>
/// `sape2 compare`: trains several encodings × seeds with otherwise identical settings on one data set and reports the
/// held-out accuracy of each encoding (mean, spread, 95% interval), its paired difference to a baseline, and its time.
/// Each finished run is written to runs.json at once, so a killed comparison resumes without retraining it.
/// </summary>
internal static class CompareCommand
{
    private sealed record Record(string Settings, List<CompareRun> Runs);

    public static Command Create(Option<bool> verbose)
    {
        var inputs = new InputOptions(Sape2ImageClassificationTrainer.Defaults.MaxPixels);
        var flags = new TrainerFlags();
        var arms = new Option<string>("--encodings") { Description = "Encodings to compare, comma-separated, each with an optional +APE.",
            DefaultValueFactory = _ => "Absolute,RopeMixed+APE,Cope+APE,Sape2+APE,Sape2" };
        var seeds = new Option<int>("--seeds") { Description = "Runs per encoding (seeds 1 … N), at least 2.", DefaultValueFactory = _ => 3 };
        var baseline = new Option<string>("--baseline") { Description = "The encoding every other one is compared with, seed by seed.",
            DefaultValueFactory = _ => "Absolute" };
        var output = new Option<string>("--out") { Description = "Folder for runs.json, compare.md and compare.png; a runs.json there is " +
            "resumed.", DefaultValueFactory = _ => "sape2-compare" };
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
        string settings = $"{train.Count} training / {test.Count} test images; options:\n" + CodeGenerator.OptionsInitializer(template, "  ");
        var record = File.Exists(file) ? JsonSerializer.Deserialize<Record>(File.ReadAllText(file))! : new Record(settings, []);
        if (record.Settings != settings)
            throw new InvalidOperationException($"'{file}' holds runs made with other data or settings (its \"Settings\" says which); pass " +
                "the same data and flags to resume it, or another --out.");
        for (int seed = 1; seed <= seeds; seed++)   // seed by seed: a comparison stopped early still has every encoding's first seeds
            foreach (var arm in arms)
            {
                if (record.Runs.Any(r => r.Arm == arm.ToString() && r.Seed == seed)) continue;
                var run = Train(train, test, template, arm, seed);
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

    private static CompareRun Train(List<ImageRow> trainRows, List<ImageRow> testRows, Sape2ImageClassificationTrainer.Options template,
        Arm arm, int seed)
    {
        var ml = new MLContext(seed: seed);
        var data = ToolData.Prepare(ml, trainRows, testRows);
        var options = template.Copy();
        (options.PositionEncoding, options.AbsolutePosition, options.Seed) = (arm.Encoding, arm.AbsolutePosition, seed);
        (options.ValidationSet, options.ValidationSetFraction) = (data.Validation, null);   // the tool's own split, the same for every run
        var clock = Stopwatch.StartNew();
        try
        {
            using var model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options).Fit(data.Train);
            double seconds = clock.Elapsed.TotalSeconds;
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data.Test));
            return new CompareRun(arm.ToString(), seed, metrics.MicroAccuracy, metrics.MacroAccuracy, seconds, model.TrainingHistory.Count);
        }
        catch (Exception e) when (data.WithFileName(e) is var named && named != e)
        {
            throw named;
        }
    }
}
