using System.CommandLine;

namespace Sape2.Cli;

/// <summary>
/// The rule for files a command writes: never one file twice in one command, and never over one of its own inputs or a file that
/// already exists unless the user passed <c>--force</c>. Checked before any work, so a refusal writes nothing.
/// </summary>
internal static class OutputFiles
{
    public static Option<bool> ForceOption() => new("--force") { Description = "Write over output files that already exist (or over an input)." };

    /// <summary>Throws unless every output of <paramref name="outputs"/> may be written. Each pair is the flag as typed and its path;
    /// null paths (options not given) are skipped.</summary>
    public static void Check(IEnumerable<(string Flag, string? Path)> inputs, IEnumerable<(string Flag, string? Path)> outputs, bool force)
    {
        var written = new Dictionary<string, string>(PathComparer);
        foreach (var (flag, path) in outputs)
        {
            if (path is null) continue;
            string full = Path.GetFullPath(path);
            if (written.TryGetValue(full, out var other))
                throw new ArgumentException($"{other} and {flag} both name '{path}'; one file cannot hold both. Nothing was written.");
            written[full] = flag;
            if (force) continue;
            foreach (var (inputFlag, input) in inputs)
                if (input is not null && PathComparer.Equals(full, Path.GetFullPath(input)))
                    throw new ArgumentException($"{flag} '{path}' is the file {inputFlag} reads; writing it would replace your input. Name " +
                        "another file, or pass --force. Nothing was written.");
            if (File.Exists(full) || Directory.Exists(full))
                throw new ArgumentException($"{flag} '{path}' already exists. Name another file, or pass --force to replace it. Nothing " +
                    "was written.");
        }
    }

    private static StringComparer PathComparer => OperatingSystem.IsWindows() || OperatingSystem.IsMacOS()
        ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
}
