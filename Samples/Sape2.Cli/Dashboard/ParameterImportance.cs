using System.Globalization;
using System.Text.Json;

namespace Sape2.Cli.Dashboard;

/// <summary>
/// How much of the spread of the trials' metric each knob accounts for, one knob at a time: the share of the metric's variance between
/// the groups of trials that share the knob's value (η², the between-group sum of squares over the total). Numbers with more than three
/// values are grouped into thirds by rank. A rough guide from few trials — knobs that were changed together share the credit — and not
/// fANOVA's decomposition; knobs every trial shares are left out.
/// </summary>
internal static class ParameterImportance
{
    /// <summary>Each knob's share, largest first, from the trials' knobs (<see cref="Flatten"/>) and metrics.</summary>
    public static IReadOnlyList<(string Knob, double Share)> Of(IReadOnlyList<(IReadOnlyDictionary<string, string> Knobs, double Metric)> trials)
    {
        var scored = trials.Where(t => double.IsFinite(t.Metric)).ToList();
        if (scored.Count < 3) return [];
        double mean = scored.Average(t => t.Metric);
        double total = scored.Sum(t => (t.Metric - mean) * (t.Metric - mean));
        if (total <= 0) return [];
        var knobs = scored.SelectMany(t => t.Knobs.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var shares = new List<(string, double)>();
        foreach (string knob in knobs)
        {
            var values = scored.Select(t => t.Knobs.GetValueOrDefault(knob, "")).ToList();
            var groups = Groups(values);
            if (groups.Distinct().Count() < 2) continue;
            double between = scored.Select((t, i) => (Group: groups[i], t.Metric)).GroupBy(g => g.Group)
                .Sum(g => g.Count() * Math.Pow(g.Average(x => x.Metric) - mean, 2));
            shares.Add((knob, between / total));
        }
        return shares.OrderByDescending(s => s.Item2).ToList();
    }

    /// <summary>Each trial's group for one knob: its value, or for numbers with more than three values its third by rank.</summary>
    private static string[] Groups(IReadOnlyList<string> values)
    {
        var numbers = values.Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x : (double?)null)
            .ToList();
        if (numbers.Any(n => n is null) || values.Distinct().Count() <= 3) return values.ToArray();
        var order = numbers.Select((n, i) => (n!.Value, i)).OrderBy(p => p.Value).Select(p => p.i).ToList();
        var groups = new string[values.Count];
        for (int rank = 0; rank < order.Count; rank++) groups[order[rank]] = $"third {rank * 3 / order.Count + 1}";
        return groups;
    }

    /// <summary>The knobs of a trial's parameters (a JSON object, nested objects flattened with dots) as invariant text.</summary>
    public static Dictionary<string, string> Flatten(string json)
    {
        var knobs = new Dictionary<string, string>(StringComparer.Ordinal);
        using var document = JsonDocument.Parse(json);
        void Walk(JsonElement element, string prefix)
        {
            if (element.ValueKind == JsonValueKind.Object)
                foreach (var property in element.EnumerateObject())
                    Walk(property.Value, prefix.Length == 0 ? property.Name : $"{prefix}.{property.Name}");
            else knobs[prefix] = element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText();
        }
        Walk(document.RootElement, "");
        return knobs;
    }
}
