using System.CommandLine;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.AutoML;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>
/// `sape2 sweep`: an AutoML-style experiment on the same inputs as `train`: a live table of trials, the leaderboard as
/// Markdown, a chart of the trials against time, model.zip of the best, and optionally a Model Builder-style project.
/// </summary>
internal static class SweepCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var defaults = new Sape2ImageClassificationTrainer.Options();
        var inputs = new InputOptions(defaults.MaxPixels);
        var output = new Option<string>("--out") { Description = "Folder for the experiment (its trial store), leaderboard.md, trials.png and " +
            "model.zip.", DefaultValueFactory = _ => "sape2-sweep" };
        var time = new Option<uint>("--time") { Description = "Time budget in seconds, images included.",
            DefaultValueFactory = _ => Sape2Experiment.DefaultTrainingTimeInSeconds };
        var maxTrials = new Option<int?>("--max-trials") { Description = "At most this many trials (default: as many as the budget allows)." };
        var tuner = new Option<string>("--tuner") { Description = "cost-frugal (a local search from the default), random or grid.",
            DefaultValueFactory = _ => "cost-frugal" };
        tuner.AcceptOnlyFromAmong("cost-frugal", "random", "grid");
        var resume = new Option<bool>("--resume") { Description = "Continue the experiment in --out: finished trials are not rerun." };
        var epochs = new Option<int?>("--epochs") { Description = "Epochs every trial is planned for (default: the trainer's automatic number)." };
        var metric = new Option<Sape2MulticlassMetric>("--metric") { Description = "MicroAccuracy, MacroAccuracy or LogLoss.",
            DefaultValueFactory = _ => Sape2MulticlassMetric.MicroAccuracy };
        var imageSize = new Option<int?>("--image-size") { Description = "Input side in pixels (default: automatic)." };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => defaults.Device };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: one per core).", DefaultValueFactory = _ => defaults.Threads };
        var seed = new Option<int>("--seed") { Description = "The experiment's seed.", DefaultValueFactory = _ => 1 };
        var generate = new Option<string?>("--generate") { Description = "Write a Model Builder-style C# project that trains the best trial's " +
            "configuration into this folder." };
        var storage = new Option<string?>("--storage") { Description = $"A trial store other workers share: a SQLite file (one machine) or " +
            $"a PostgreSQL connection string (several; its password in ${StorageVariable} or ~/.pgpass, not here). Default: ${StorageVariable} " +
            "when set, else the --out folder's own store." };
        var study = new Option<string>("--study") { Description = "The study in --storage this worker joins (every worker of it uses the same " +
            "data and settings).", DefaultValueFactory = _ => "sweep" };
        var devices = new Option<string?>("--devices") { Description = "One worker per device in this process, e.g. cuda:0,cuda:1 (the study " +
            "is shared through --storage, or a store in --out)." };
        var heartbeat = new Option<double>("--heartbeat-timeout") { Description = "Seconds a shared study waits for a silent worker before " +
            "another reruns its trial.", DefaultValueFactory = _ => 60 };
        var dashboard = new Option<bool>("--dashboard") { Description = "Serve a live web page of the study on 127.0.0.1 while the sweep runs " +
            "(its address is printed; `sape2 dashboard` serves it afterwards, or for workers elsewhere)." };
        var dashboardPort = Dashboard.DashboardCommand.PortOption();
        var force = OutputFiles.ForceOption();
        var command = new Command("sweep", "Search encodings, sizes and recipes within a time budget (ASHA); keep the best model.")
        {
            output, time, maxTrials, tuner, resume, epochs, metric, imageSize, device, threads, seed, generate, storage, study, devices, heartbeat,
            dashboard, dashboardPort, force,
        };
        inputs.AddTo(command);
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            // The fixed options first, before any image is read or trial started: each would fail every trial the same way.
            var workerDevices = parse.GetValue(devices) is { } list
                ? list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                : [parse.GetValue(device)!];
            if (workerDevices.Length == 0) throw new ArgumentException($"--devices '{parse.GetValue(devices)}' names no device; give e.g. cpu or " +
                "cuda:0,cuda:1.");
            foreach (var (flag, value) in workerDevices.Select(d => (parse.GetValue(devices) is null ? "--device" : "--devices", d)))
                CheckDevice(flag, value);
            if (parse.GetValue(threads) < 0)
                throw new ArgumentException($"--threads must be 0 (one per core) or positive; got {parse.GetValue(threads)}.");
            if (parse.GetValue(imageSize) is <= 0) throw new ArgumentException($"--image-size must be positive; got {parse.GetValue(imageSize)}.");
            if (parse.GetValue(time) == 0) throw new ArgumentException("--time must be at least 1 second.");
            if (parse.GetValue(maxTrials) is <= 0) throw new ArgumentException($"--max-trials must be positive; got {parse.GetValue(maxTrials)}.");
            if (parse.GetValue(epochs) is <= 0) throw new ArgumentException($"--epochs must be positive; got {parse.GetValue(epochs)}.");
            if (parse.GetValue(generate) is { } project && !parse.GetValue(force) && Directory.Exists(project)
                && Directory.EnumerateFileSystemEntries(project).Any())
                throw new ArgumentException($"--generate '{project}' is a folder that is not empty; the project's files would replace yours. " +
                    "Name a new folder, or pass --force.");
            var (train, test) = inputs.Load(parse);
            string folder = parse.GetValue(output)!;
            string checkpoint = Path.Combine(folder, "experiment");
            string? shared = SharedStorage(parse.GetValue(storage), workerDevices.Length > 1 ? Path.Combine(checkpoint, "study.db") : null);
            bool exists = File.Exists(Path.Combine(checkpoint, "experiment.db"));
            if (shared is null && exists && !parse.GetValue(resume))
                throw new InvalidOperationException($"'{folder}' already holds an experiment; pass --resume to continue it, or another --out.");
            if (shared is null && !exists && parse.GetValue(resume))
                throw new InvalidOperationException($"There is no experiment to resume in '{folder}'.");
            int experimentSeed = parse.GetValue(seed);
            var ml = new MLContext(seed: experimentSeed);
            var data = ToolData.Prepare(ml, train, test);
            if (data.Validation is null) throw new InvalidOperationException("There are too few images for a validation set; add images.");
            bool interactive = AnsiConsole.Profile.Capabilities.Interactive;
            var monitor = new SweepMonitor(interactive);
            var experiments = workerDevices.Select((workerDevice, index) =>
            {
                var experiment = ml.Sape2Auto().CreateExperiment().SetDataset(data.Train, data.Validation!).SetColumns("Label", "Image")
                    .SetSeed(experimentSeed).SetCheckpoint(checkpoint).SetMonitor(monitor).SetTrainingTimeInSeconds(parse.GetValue(time))
                    .SetMulticlassClassificationMetric(parse.GetValue(metric))
                    .SetTrainerOptions(new Sape2ImageClassificationTrainer.Options
                    {
                        ImageSize = parse.GetValue(imageSize), Device = workerDevice, Threads = parse.GetValue(threads),
                        MaxPixels = parse.GetValue(inputs.MaxPixels),
                    });
                if (shared is not null) experiment.SetStorage(shared, parse.GetValue(study)!, parse.GetValue(heartbeat));
                if (workerDevices.Length > 1) experiment.WorkerName += $"/{index}:{workerDevice}";
                if (parse.GetValue(maxTrials) is { } most) experiment.SetMaxModelToExplore(most);
                if (parse.GetValue(epochs) is { } planned) experiment.SetMaxEpochsPerTrial(planned);
                return parse.GetValue(tuner) switch
                {
                    "random" => experiment.SetRandomSearchTuner(),
                    "grid" => experiment.SetGridSearchTuner(),
                    _ => experiment.SetCostFrugalTuner(),
                };
            }).ToList();
            using var page = parse.GetValue(dashboard)
                ? Dashboard.DashboardCommand.Start(shared ?? Path.Combine(checkpoint, TrialStore.FileName), shared is null ? "default"
                    : parse.GetValue(study)!, parse.GetValue(dashboardPort))
                : null;
            if (page is not null) Console.WriteLine($"dashboard: {page.Address} (while the sweep runs)");
            try
            {
                return Sweep(ml, experiments, monitor, data, folder, parse.GetValue(generate), interactive);
            }
            catch (Exception e) when (data.WithFileName(e) is var named && named != e)
            {
                throw named;
            }
        }));
        return command;
    }

    /// <summary>Refuses a device text no trial could use: not auto, cpu, cuda or cuda:N, or a CUDA device this machine does not have.</summary>
    private static void CheckDevice(string flag, string device)
    {
        try
        {
            Microsoft.ML.SaPE2.Training.TrainingDevice.Resolve(device);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            string reason = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message;
            throw new ArgumentException($"{flag} '{device}': {reason}", e);
        }
    }

    /// <summary>The environment variable a shared store's connection string may come from (keeps the password off command lines).</summary>
    public const string StorageVariable = "SAPE2_STORAGE";

    /// <summary>
    /// The store a study is shared through: --storage, else $SAPE2_STORAGE, else <paramref name="local"/> (several devices in this process),
    /// else null (the --out folder's own experiment). A password on the command line is refused.
    /// </summary>
    private static string? SharedStorage(string? flag, string? local)
    {
        if (flag is not null && TrialStore.HasPassword(flag))
            throw new ArgumentException($"--storage holds a password, which every user of this machine can read in the process list; put the " +
                $"connection string in ${StorageVariable}, or the password in ~/.pgpass.");
        string? fromEnvironment = Environment.GetEnvironmentVariable(StorageVariable);
        return flag ?? (string.IsNullOrWhiteSpace(fromEnvironment) ? local : fromEnvironment);
    }

    private static int Sweep(MLContext ml, IReadOnlyList<Sape2Experiment> experiments, SweepMonitor monitor, ToolData data, string folder,
        string? generate, bool interactive)
    {
        AnsiConsole.MarkupLine($"[bold]SaPE² sweep[/] · {data.TrainCount} training / {data.ValidationCount} validation / {data.TestCount} test " +
            $"images · {data.Classes} classes{(experiments.Count > 1 ? $" · {experiments.Count} workers" : "")}");
        var log = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Kind != Microsoft.ML.Runtime.ChannelMessageKind.Info || !e.RawMessage.StartsWith("SaPE² experiment: ", StringComparison.Ordinal))
                return;
            string line = e.RawMessage["SaPE² experiment: ".Length..];
            if (interactive) lock (log) log.Add(line);
            else if (!line.StartsWith("trial ", StringComparison.Ordinal)) Console.WriteLine(line);   // the monitor prints the trials
        };
        // Every worker returns the study's best (read from the model file its trainer wrote): keep the first, free the others' copies.
        Sape2TrialResult[] results = null!;
        var runs = () => Task.WhenAll(experiments.Select(x => x.RunAsync()));
        if (interactive)
            AnsiConsole.Live(monitor.Table()).Start(context =>
            {
                var run = runs();
                while (!run.Wait(500)) context.UpdateTarget(monitor.Table());
                context.UpdateTarget(monitor.Table());
                results = run.GetAwaiter().GetResult();
            });
        else
            results = runs().GetAwaiter().GetResult();
        var best = results.MinBy(r => r.Loss)!;
        foreach (var other in results.Where(r => r.Model != best.Model)) other.Model?.Dispose();
        var experiment = experiments[Array.IndexOf(results, best)];
        foreach (var line in log.Where(l => !l.StartsWith("trial ", StringComparison.Ordinal)))
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]");

        var trials = experiment.Trials;
        string metricName = best.ValidationMetrics is null ? "metric" : "validation metric";
        string leaderboard = Path.Combine(folder, "leaderboard.md"), chart = Path.Combine(folder, "trials.png");
        string zip = Path.Combine(folder, "model.zip");
        string finalFit = best.FinalFit is { } final ? $" model.zip is its final fit: the same configuration trained again on all " +
            $"{final.TrainingRows} training images for {final.EpochsTrained} of {final.Epochs} epochs ({final.Seconds:F0} s), so its validation " +
            "figure below is the trial's, not the final model's." : "";
        string board = $"# SaPE² sweep\n\n{trials.Count} trials; best: trial {best.TrialId} ({SweepMonitor.Describe(best.Parameters)})." +
            $"{finalFit}\n\n{SweepReport.Leaderboard(trials, best, metricName)}";
        ToolData.WriteAtomically(leaderboard, temporary => File.WriteAllText(temporary, board));
        SweepReport.Chart(monitor.Trials, best.TrialId, chart);
        var keyToValue = ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel").Fit(best.Model!.Transform(data.Train));
        var model = new TransformerChain<ITransformer>(best.Model, keyToValue);
        ToolData.SaveModel(ml, model, data.InputSchema, zip);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data.Test));
        AnsiConsole.MarkupLine($"Best: trial {best.TrialId}, {Markup.Escape(SweepMonitor.Describe(best.Parameters))}, {best.EpochsTrained} epochs, " +
            $"validation {best.Metric:F4}" + (best.FinalFit is { } refit ? $"; the model is its final fit: {refit.EpochsTrained} of {refit.Epochs} " +
            $"epochs on all {refit.TrainingRows} training images." : "."));
        Report.Metrics(metrics, best.Model.ClassNames, $"held-out test set ({data.TestCount} images), best trial");
        var written = new List<string> { leaderboard, chart, zip };
        if (generate is not null)
        {
            var winner = experiment.TrainerOptions(best);
            // A trial holds 10% of its training images back to pick its best epoch; the final fit learned from every one of them.
            winner.ValidationSetFraction = best.FinalFit is null ? new Sape2ImageClassificationTrainer.Options().ValidationSetFraction : null;
            CodeGenerator.Write(generate, winner, $"Trial {best.TrialId} of {trials.Count}: {SweepMonitor.Describe(best.Parameters)}; validation " +
                $"{best.Metric:F4}, held-out test accuracy {metrics.MicroAccuracy:P2}.");
            written.Add(generate);
        }
        AnsiConsole.MarkupLine($"Saved {string.Join(", ", written.Select(w => $"[green]{Markup.Escape(w)}[/]"))}.");
        model.Dispose();
        return 0;
    }
}
