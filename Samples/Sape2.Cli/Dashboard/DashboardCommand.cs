using System.CommandLine;
using Microsoft.ML.SaPE2.AutoML;

namespace Sape2.Cli.Dashboard;

/// <summary>
/// `sape2 dashboard`: serves the web page of a study (a sweep's --out folder, or a shared --storage and --study) on 127.0.0.1 until
/// Ctrl+C; `sape2 sweep --dashboard` serves the same page while the sweep runs.
/// </summary>
internal static class DashboardCommand
{
    public static Option<int> PortOption() => new("--dashboard-port")
    {
        Description = "Port of the dashboard on 127.0.0.1 (0: any free one, printed).", DefaultValueFactory = _ => 0,
    };

    public static Command Create(Option<bool> verbose)
    {
        var output = new Option<string?>("--out") { Description = "A sweep's --out folder: its own trial store." };
        var storage = new Option<string?>("--storage") { Description = $"A shared trial store (a SQLite file or a PostgreSQL connection string " +
            $"without its password); default ${SweepCommand.StorageVariable} when --out is not given." };
        var study = new Option<string>("--study") { Description = "The study in --storage.", DefaultValueFactory = _ => "sweep" };
        var port = PortOption();
        var command = new Command("dashboard", "Serve a live web page of a sweep's study on 127.0.0.1: leaderboard, learning curves, ASHA's " +
            "decisions, parameter importance.") { output, storage, study, port };
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            var (source, studyName) = Store(parse.GetValue(output), parse.GetValue(storage), parse.GetValue(study)!);
            using var server = Start(source, studyName, parse.GetValue(port));
            using var stop = new ManualResetEventSlim();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Set(); };
            Console.WriteLine($"dashboard: {server.Address} (Ctrl+C stops it)");
            stop.Wait();
            return 0;
        }));
        return command;
    }

    /// <summary>The store and study to show: a sweep folder's own store (study "default"), else --storage or $SAPE2_STORAGE.</summary>
    private static (string Storage, string Study) Store(string? folder, string? storage, string study)
    {
        if (folder is not null && storage is not null) throw new ArgumentException("Give --out (a sweep's folder) or --storage, not both.");
        if (folder is not null)
        {
            string file = Path.Combine(folder, "experiment", TrialStore.FileName);
            if (!File.Exists(file)) throw new ArgumentException($"--out '{folder}' holds no sweep: '{file}' does not exist.");
            return (file, "default");
        }
        if (storage is not null && TrialStore.HasPassword(storage))
            throw new ArgumentException($"--storage holds a password; put the connection string in ${SweepCommand.StorageVariable}, or the " +
                "password in ~/.pgpass.");
        string? given = storage ?? Environment.GetEnvironmentVariable(SweepCommand.StorageVariable);
        if (string.IsNullOrWhiteSpace(given)) throw new ArgumentException($"Name the study: --out (a sweep's folder), --storage or " +
            $"${SweepCommand.StorageVariable}.");
        if (!TrialStore.IsPostgres(given) && !File.Exists(given)) throw new ArgumentException($"--storage '{given}' does not exist.");
        return (given, study);
    }

    /// <summary>Opens <paramref name="storage"/>'s <paramref name="study"/> and serves its page; disposing stops both.</summary>
    public static DashboardServer Start(string storage, string study, int port)
    {
        if (port is < 0 or > 65535) throw new ArgumentException($"--dashboard-port must be within 0–65535; got {port}.");
        var store = TrialStore.Open(storage, study);
        try
        {
            return new DashboardServer(store, port, ownsStore: true);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }
}
