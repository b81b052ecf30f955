using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// Every trial of an experiment in an embedded SQLite database (<c>experiment.db</c> in the checkpoint folder, or in
/// memory without one). A killed experiment resumes from it: finished trials are read back, unfinished ones rerun.
/// </summary>
internal sealed class TrialStore : IDisposable
{
    public const string FileName = "experiment.db";
    private readonly SqliteConnection connection;

    private TrialStore(SqliteConnection connection) => this.connection = connection;

    /// <summary>The store in <paramref name="folder"/> (created if missing), or in memory when it is null.</summary>
    public static TrialStore Open(string? folder)
    {
        string source = ":memory:";
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
            source = Path.Combine(folder, FileName);
        }
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Pooling = false }.ToString());
        try
        {
            connection.Open();
            var store = new TrialStore(connection);
            store.Execute("PRAGMA journal_mode = WAL;" +
                "CREATE TABLE IF NOT EXISTS experiment (key TEXT PRIMARY KEY, value TEXT NOT NULL);" +
                "CREATE TABLE IF NOT EXISTS trials (id INTEGER PRIMARY KEY, parameters TEXT NOT NULL, status TEXT NOT NULL, metric REAL, " +
                "loss REAL, rung_metrics TEXT NOT NULL, epochs INTEGER NOT NULL, planned_epochs INTEGER NOT NULL, seconds REAL NOT NULL, " +
                "peak_memory INTEGER NOT NULL, reason TEXT, never_prune INTEGER NOT NULL, seed INTEGER NOT NULL);");
            return store;
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw new InvalidOperationException($"The experiment's trial store '{source}' could not be opened: {e.Message}", e);
        }
    }

    /// <summary>
    /// Records what the experiment is (data, columns, metric, search space, seed…) the first time; later runs must match,
    /// or the error names the first setting that differs.
    /// </summary>
    public void CheckIdentity(IReadOnlyList<(string Key, string Value)> settings)
    {
        foreach (var (key, value) in settings)
        {
            using var read = Command("SELECT value FROM experiment WHERE key = $key", ("$key", key));
            if (read.ExecuteScalar() is string stored)
            {
                if (stored != value)
                    throw new InvalidOperationException($"The checkpoint's experiment has {key} = '{stored}', this one '{value}'. Resume " +
                        "with the same data and settings, or use another checkpoint folder.");
                continue;
            }
            using var write = Command("INSERT INTO experiment (key, value) VALUES ($key, $value)", ("$key", key), ("$value", value));
            write.ExecuteNonQuery();
        }
    }

    /// <summary>The trial whose model is saved beside the store, or null.</summary>
    public int? BestTrial
    {
        get
        {
            using var read = Command("SELECT value FROM experiment WHERE key = 'best trial'");
            return read.ExecuteScalar() is string id ? int.Parse(id, CultureInfo.InvariantCulture) : null;
        }
        set
        {
            using var write = Command("INSERT OR REPLACE INTO experiment (key, value) VALUES ('best trial', $id)",
                ("$id", value?.ToString(CultureInfo.InvariantCulture) ?? ""));
            write.ExecuteNonQuery();
        }
    }

    /// <summary>Forgets trials that were running when an earlier run was killed: they run again.</summary>
    public int RemoveUnfinished()
    {
        using var delete = Command("DELETE FROM trials WHERE status = $running", ("$running", nameof(Sape2TrialStatus.Running)));
        return delete.ExecuteNonQuery();
    }

    public void Started(int id, string parameters, bool neverPrune, int seed)
    {
        using var insert = Command("INSERT OR REPLACE INTO trials (id, parameters, status, rung_metrics, epochs, planned_epochs, seconds, " +
            "peak_memory, never_prune, seed) VALUES ($id, $parameters, $status, '{}', 0, 0, 0, 0, $neverPrune, $seed)",
            ("$id", id), ("$parameters", parameters), ("$status", nameof(Sape2TrialStatus.Running)), ("$neverPrune", neverPrune ? 1 : 0),
            ("$seed", seed));
        insert.ExecuteNonQuery();
    }

    public void Finished(Sape2TrialResult r)
    {
        using var update = Command("UPDATE trials SET status = $status, metric = $metric, loss = $loss, rung_metrics = $rungs, epochs = $epochs, " +
            "planned_epochs = $planned, seconds = $seconds, peak_memory = $peak, reason = $reason WHERE id = $id",
            ("$id", r.TrialId), ("$status", r.Status.ToString()), ("$metric", Finite(r.Metric)), ("$loss", Finite(r.Loss)),
            ("$rungs", JsonSerializer.Serialize(r.MetricPerRung)), ("$epochs", r.EpochsTrained), ("$planned", r.PlannedEpochs),
            ("$seconds", r.Seconds), ("$peak", r.PeakMemoryBytes), ("$reason", (object?)r.Reason ?? DBNull.Value));
        if (update.ExecuteNonQuery() != 1) throw new InvalidOperationException($"Trial {r.TrialId} was not started in the trial store.");
    }

    /// <summary>The finished trials, in id order, with their never-prune flag.</summary>
    public IReadOnlyList<(Sape2TrialResult Result, bool NeverPrune)> FinishedTrials(Sape2SearchSpace space)
    {
        using var read = Command("SELECT id, parameters, status, metric, loss, rung_metrics, epochs, planned_epochs, seconds, peak_memory, " +
            "reason, never_prune, seed FROM trials WHERE status <> $running ORDER BY id", ("$running", nameof(Sape2TrialStatus.Running)));
        using var reader = read.ExecuteReader();
        var trials = new List<(Sape2TrialResult, bool)>();
        while (reader.Read())
        {
            trials.Add((new Sape2TrialResult
            {
                TrialId = reader.GetInt32(0), Parameters = space.FromJson(reader.GetString(1)),
                Status = Enum.Parse<Sape2TrialStatus>(reader.GetString(2)),
                Metric = reader.IsDBNull(3) ? double.NaN : reader.GetDouble(3),
                Loss = reader.IsDBNull(4) ? double.PositiveInfinity : reader.GetDouble(4),
                MetricPerRung = JsonSerializer.Deserialize<Dictionary<int, double>>(reader.GetString(5))!,
                EpochsTrained = reader.GetInt32(6), PlannedEpochs = reader.GetInt32(7), Seconds = reader.GetDouble(8),
                PeakMemoryBytes = reader.GetInt64(9), Reason = reader.IsDBNull(10) ? null : reader.GetString(10), Seed = reader.GetInt32(12),
            }, reader.GetInt32(11) != 0));
        }
        return trials;
    }

    public void Dispose() => connection.Dispose();

    private static object Finite(double value) => double.IsFinite(value) ? value : DBNull.Value;

    private void Execute(string sql)
    {
        using var command = Command(sql);
        command.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }
}
