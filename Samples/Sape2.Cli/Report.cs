using Microsoft.ML.Data;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>Metrics and confusion matrices as console tables.</summary>
internal static class Report
{
    public static void Metrics(MulticlassClassificationMetrics metrics, IReadOnlyList<string> classes, string what)
    {
        var summary = new Table().Title($"Metrics on the {Markup.Escape(what)}").AddColumns("metric", "value");
        summary.AddRow("micro accuracy", $"{metrics.MicroAccuracy:P2}");
        summary.AddRow("macro accuracy", $"{metrics.MacroAccuracy:P2}");
        summary.AddRow("log-loss", $"{metrics.LogLoss:F4}");
        summary.AddRow("log-loss reduction", $"{metrics.LogLossReduction:F4}");
        AnsiConsole.Write(summary);
        var counts = Counts(metrics.ConfusionMatrix);
        var table = new Table().Title("Confusion matrix (rows: true class, columns: predicted class number)").AddColumn("true class");
        for (int p = 0; p < classes.Count; p++) table.AddColumn(new TableColumn($"{p}").RightAligned());
        table.AddColumn(new TableColumn("recall").RightAligned());
        for (int t = 0; t < classes.Count; t++)
        {
            double total = Enumerable.Range(0, classes.Count).Sum(p => counts[t, p]);
            var cells = Enumerable.Range(0, classes.Count).Select(p => p == t ? $"[green]{counts[t, p]:0}[/]" : counts[t, p] == 0 ? "[grey]·[/]"
                : $"{counts[t, p]:0}");
            table.AddRow(cells.Prepend(Markup.Escape($"{t} {Short(classes[t])}")).Append(total > 0 ? $"{counts[t, t] / total:P0}" : "–").ToArray());
        }
        AnsiConsole.Write(table);
    }

    public static double[,] Counts(ConfusionMatrix matrix)
    {
        int n = matrix.NumberOfClasses;
        var counts = new double[n, n];
        for (int t = 0; t < n; t++)
            for (int p = 0; p < n; p++)
                counts[t, p] = matrix.Counts[t][p];
        return counts;
    }

    private static string Short(string name) => name.Length > 14 ? name[..13] + "…" : name;
}
