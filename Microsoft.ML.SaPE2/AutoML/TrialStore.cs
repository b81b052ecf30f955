using System.Data;
using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// Every trial of an experiment's study in a database that any number of workers share: an embedded SQLite file (one machine;
/// <c>experiment.db</c> in the checkpoint folder, or in memory) or a PostgreSQL server (many machines). Each write is one
/// transaction; a trial is claimed atomically under a lock on the study's row (PostgreSQL <c>SELECT … FOR UPDATE</c>, SQLite's
/// write lock), so no two workers ever run the same trial; running trials send heartbeats, and one whose worker went silent is
/// marked interrupted and run again by the next worker to claim. ASHA's rung results and the study's best model are shared
/// through it too.
/// </summary>
internal sealed partial class TrialStore : IDisposable
{
    public const string FileName = "experiment.db";
    private const int Attempts = 5;

    private readonly Func<DbConnection> connect;
    private readonly bool postgres;
    private readonly string source;
    private readonly object gate = new();
    private DbConnection? connection;

    private TrialStore(Func<DbConnection> connect, bool postgres, string source, string study)
    {
        (this.connect, this.postgres, this.source, Study) = (connect, postgres, source, study);
    }

    /// <summary>The study this store reads and writes.</summary>
    public string Study { get; }

    /// <summary>Whether <paramref name="storage"/> is a PostgreSQL connection string (key=value pairs naming a host) rather than a file.</summary>
    public static bool IsPostgres(string storage) =>
        storage.Contains('=') && (HasKey(storage, "Host") || HasKey(storage, "Server"));

    /// <summary>Whether the connection string <paramref name="storage"/> holds a password (the tool refuses one on its command line).</summary>
    public static bool HasPassword(string storage) => HasKey(storage, "Password");

    private static bool HasKey(string storage, string key) =>
        storage.Split(';').Any(part => part.Trim().StartsWith(key, StringComparison.OrdinalIgnoreCase));

    /// <summary>The store in <paramref name="folder"/> (created if missing), or in memory when it is null: the default study.</summary>
    public static TrialStore Open(string? folder)
    {
        if (folder is null) return Open(":memory:", "default");
        Directory.CreateDirectory(folder);
        return Open(Path.Combine(folder, FileName), "default");
    }

    /// <summary>
    /// The study <paramref name="study"/> in <paramref name="storage"/>: a SQLite file path (":memory:" for none) or a PostgreSQL
    /// connection string. The tables are created when missing.
    /// </summary>
    public static TrialStore Open(string storage, string study)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(storage);
        ArgumentException.ThrowIfNullOrWhiteSpace(study);
        TrialStore store;
        if (IsPostgres(storage))
        {
            var builder = new NpgsqlConnectionStringBuilder(storage);
            string shown = $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";   // never the password
            store = new TrialStore(() => new NpgsqlConnection(storage), postgres: true, shown, study);
        }
        else
        {
            if (storage != ":memory:") Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(storage))!);
            var text = new SqliteConnectionStringBuilder { DataSource = storage, Pooling = false, DefaultTimeout = 60 }.ToString();
            store = new TrialStore(() => new SqliteConnection(text), postgres: false, storage, study);
        }
        try
        {
            store.CreateSchema();
            return store;
        }
        catch (SqliteException e)
        {
            store.Dispose();
            throw new InvalidOperationException($"The trial store '{storage}' cannot be opened as a SQLite database: {e.Message.TrimEnd('.')}. " +
                "Check that the folder is writable and the file is an experiment's store (not damaged), or use another folder.", e);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Where the store is, for messages (a PostgreSQL server's host, port and database; never its password).</summary>
    public string Source => source;

    /// <summary>The database's clock in seconds since 1970: every worker's heartbeat is judged by the same clock.</summary>
    private string Now => postgres ? "CAST(extract(epoch from clock_timestamp()) AS DOUBLE PRECISION)" : "((julianday('now') - 2440587.5) * 86400.0)";

    private void CreateSchema() => InTransaction(transaction =>
    {
        if (postgres) Execute(transaction, "SELECT pg_advisory_xact_lock(2505094660)");   // workers starting at once create the tables once
        else
        {
            using var old = Command(transaction, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'trials'");
            if (Convert.ToInt64(old.ExecuteScalar(), CultureInfo.InvariantCulture) > 0)
                throw new InvalidOperationException($"'{source}' holds an experiment of an earlier version of this library, which cannot be " +
                    "resumed; start the experiment in another folder.");
        }
        Execute(transaction,
            "CREATE TABLE IF NOT EXISTS sape2_studies (name TEXT PRIMARY KEY, started DOUBLE PRECISION NOT NULL, best_trial INTEGER, " +
            "best_path TEXT);" +
            "CREATE TABLE IF NOT EXISTS sape2_settings (study TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (study, key));" +
            "CREATE TABLE IF NOT EXISTS sape2_trials (study TEXT NOT NULL, id INTEGER NOT NULL, parameters TEXT NOT NULL, status TEXT NOT NULL, " +
            "metric DOUBLE PRECISION, loss DOUBLE PRECISION, rung_metrics TEXT NOT NULL, epochs INTEGER NOT NULL, planned_epochs INTEGER NOT NULL, " +
            "seconds DOUBLE PRECISION NOT NULL, peak_memory BIGINT NOT NULL, reason TEXT, never_prune INTEGER NOT NULL, seed INTEGER NOT NULL, " +
            "worker TEXT NOT NULL, device TEXT NOT NULL, heartbeat DOUBLE PRECISION NOT NULL, rerun_of INTEGER, PRIMARY KEY (study, id));" +
            "CREATE TABLE IF NOT EXISTS sape2_rungs (study TEXT NOT NULL, trial INTEGER NOT NULL, rung INTEGER NOT NULL, " +
            "loss DOUBLE PRECISION NOT NULL, PRIMARY KEY (study, trial, rung));" +
            // Added after the first shared-study version; stores made before it get the table when next opened (learning curves start then).
            "CREATE TABLE IF NOT EXISTS sape2_epochs (study TEXT NOT NULL, trial INTEGER NOT NULL, epoch INTEGER NOT NULL, " +
            "metric DOUBLE PRECISION, validation_loss DOUBLE PRECISION, PRIMARY KEY (study, trial, epoch));");
        Execute(transaction, $"INSERT INTO sape2_studies (name, started) VALUES (@study, {Now}) ON CONFLICT (name) DO NOTHING", ("@study", Study));
    });

    /// <summary>
    /// Records what the study is (data, columns, metric, search space, seed…) the first time; every later worker or run must match,
    /// or the error names the first setting that differs.
    /// </summary>
    public void CheckIdentity(IReadOnlyList<(string Key, string Value)> settings) => InTransaction(transaction =>
    {
        foreach (var (key, value) in settings)
        {
            Execute(transaction, "INSERT INTO sape2_settings (study, key, value) VALUES (@study, @key, @value) ON CONFLICT (study, key) DO NOTHING",
                ("@study", Study), ("@key", key), ("@value", value));
            using var read = Command(transaction, "SELECT value FROM sape2_settings WHERE study = @study AND key = @key", ("@study", Study),
                ("@key", key));
            if (read.ExecuteScalar() is string stored && stored != value)
                throw new InvalidOperationException($"The study '{Study}' in {source} has {key} = '{stored}', this one '{value}'. Run it with the " +
                    "same data and settings, or name another study (or checkpoint folder).");
        }
    });

    /// <summary>When the study began (the database's clock, seconds since 1970), and that clock now.</summary>
    public (double Started, double Now) Clock() => InTransaction(transaction =>
    {
        using var read = Command(transaction, $"SELECT started, {Now} FROM sape2_studies WHERE name = @study", ("@study", Study));
        using var reader = read.ExecuteReader();
        reader.Read();
        return (reader.GetDouble(0), reader.GetDouble(1));
    });

    public void Dispose()
    {
        lock (gate)
        {
            connection?.Dispose();
            connection = null;
        }
    }

    private static object Finite(double value) => double.IsFinite(value) ? value : DBNull.Value;

    private void Execute(DbTransaction transaction, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = Command(transaction, sql, parameters);
        command.ExecuteNonQuery();
    }

    private DbCommand Command(DbTransaction transaction, string sql, params (string Name, object Value)[] parameters)
    {
        var command = transaction.Connection!.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        return command;
    }

    /// <summary>Runs <paramref name="work"/> in one transaction that takes the write lock at once (SQLite) and commits it.</summary>
    private void InTransaction(Action<DbTransaction> work) => InTransaction<int>(transaction => { work(transaction); return 0; });

    /// <summary>
    /// Runs <paramref name="work"/> in one committed transaction, retrying a lost or busy connection with backoff (0.5, 1, 2, 4 s); then
    /// fails naming the store. Errors of the work itself (a refused setting) are not retried.
    /// </summary>
    private T InTransaction<T>(Func<DbTransaction, T> work)
    {
        lock (gate)
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    if (connection is null)
                    {
                        connection = connect();
                        connection.Open();
                        if (!postgres)
                        {
                            using var wal = connection.CreateCommand();   // readers do not wait for a writer (outside any transaction)
                            wal.CommandText = "PRAGMA journal_mode = WAL";
                            wal.ExecuteNonQuery();
                        }
                    }
                    // PostgreSQL: the row locks (FOR UPDATE) serialise claims; SQLite: the transaction takes the write lock at its start.
                    using var transaction = connection.BeginTransaction(postgres ? IsolationLevel.ReadCommitted : IsolationLevel.Serializable);
                    var result = work(transaction);
                    transaction.Commit();
                    return result;
                }
                catch (DbException e) when (IsTransient(e))
                {
                    connection?.Dispose();
                    connection = null;
                    if (attempt == Attempts)
                        throw new InvalidOperationException($"The trial store {source} could not be reached after {Attempts} attempts: " +
                            e.Message, e);
                    Thread.Sleep(TimeSpan.FromSeconds(0.5 * (1 << (attempt - 1))));
                }
            }
        }
    }

    /// <summary>Connection failures, timeouts, lock contention and serialisation conflicts: worth another attempt.</summary>
    private static bool IsTransient(DbException e) => e switch
    {
        NpgsqlException { IsTransient: true } => true,
        PostgresException { SqlState: "40001" or "40P01" or "57P01" or "57P02" or "57P03" } => true,
        NpgsqlException { InnerException: IOException or System.Net.Sockets.SocketException or TimeoutException } => true,
        SqliteException { SqliteErrorCode: 5 or 6 } => true,   // SQLITE_BUSY, SQLITE_LOCKED
        _ => false,
    };
}
