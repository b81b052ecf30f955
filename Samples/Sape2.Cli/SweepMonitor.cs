using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.AutoML;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>`sape2 sweep`'s view of the experiment: a live table of trials and each trial's validation curve against time.</summary>
internal sealed class SweepMonitor(bool interactive) : ISape2Monitor
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly ConcurrentDictionary<int, Trial> trials = new();

    /// <summary>One trial as the table and the chart show it.</summary>
    public sealed class Trial(Sape2TrialSettings settings)
    {
        public Sape2TrialSettings Settings { get; } = settings;
        public string Status { get; set; } = "running";
        public List<(double Seconds, double Accuracy)> Curve { get; } = new();
        public Sape2TrialResult? Result { get; set; }
        public string? Error { get; set; }
    }

    public IReadOnlyList<Trial> Trials => trials.Values.OrderBy(t => t.Settings.TrialId).ToList();

    public void ReportRunningTrial(Sape2TrialSettings settings) => trials[settings.TrialId] = new Trial(settings);

    public void ReportEpoch(Sape2TrialSettings settings, TrainingProgress progress)
    {
        if (!trials.TryGetValue(settings.TrialId, out var trial) || progress.ValidationAccuracy is not { } accuracy) return;
        lock (trial.Curve) trial.Curve.Add((clock.Elapsed.TotalSeconds, accuracy));
        trial.Status = $"epoch {progress.Epoch}/{progress.Epochs}";
    }

    public void ReportCompletedTrial(Sape2TrialResult result) => Ended(result, result.Status.ToString().ToLowerInvariant());

    public void ReportPrunedTrial(Sape2TrialResult result) => Ended(result, "pruned");

    public void ReportFailTrial(Sape2TrialSettings settings, Exception exception)
    {
        if (!trials.TryGetValue(settings.TrialId, out var trial)) return;
        (trial.Status, trial.Error) = ("failed", exception.Message);
        if (!interactive) Console.WriteLine($"trial {settings.TrialId,3}: failed: {exception.Message}");
    }

    private void Ended(Sape2TrialResult result, string status)
    {
        if (!trials.TryGetValue(result.TrialId, out var trial)) return;
        (trial.Status, trial.Result) = (status, result);
        if (!interactive) Console.WriteLine($"trial {result.TrialId,3}: {Describe(result.Parameters)} · {status} after {result.EpochsTrained} " +
            $"epoch(s), {result.Seconds:F0} s · validation {result.Metric:F4}{(result.Reason is null ? "" : $" ({result.Reason})")}");
    }

    /// <summary>The trials so far, newest last.</summary>
    public Table Table()
    {
        var table = new Table().Title("SaPE² sweep").AddColumns("trial", "encoding", "lr", "wd", "augmentation", "patch", "status", "epochs",
            "validation");
        foreach (var t in Trials)
        {
            var p = t.Settings.Parameters!;
            string validation;
            lock (t.Curve) validation = t.Result is { } r ? $"{r.Metric:F4}" : t.Curve.Count > 0 ? $"{t.Curve[^1].Accuracy:P1}" : "";
            table.AddRow($"{t.Settings.TrialId}", Encoding(p), $"{p.LearningRate:G2}", $"{p.WeightDecay:G2}", $"{p.Augmentation}",
                p.PatchSize == 0 ? "auto" : $"{p.PatchSize}", Markup.Escape(t.Status), $"{t.Result?.EpochsTrained ?? t.Curve.Count}", validation);
        }
        return table;
    }

    /// <summary>The encoding, "+APE" where the model adds the absolute embedding to it (the model's own rule), and SaPE²'s mode.</summary>
    public static string Encoding(Sape2TrialParameters p) =>
        $"{new Arm(p.PositionEncoding, p.AbsolutePosition)}" + (p.PositionEncoding == PositionEncodingKind.Sape2 ? $" ({p.Sape2Mode})" : "");

    public static string Describe(Sape2TrialParameters p) => $"{Encoding(p)}, lr {p.LearningRate:G2}, wd {p.WeightDecay:G2}, {p.Augmentation}, " +
        $"patch {(p.PatchSize == 0 ? "auto" : p.PatchSize)}, {p.Preset}";
}
