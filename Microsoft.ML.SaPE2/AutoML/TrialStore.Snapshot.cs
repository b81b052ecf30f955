using System.Data.Common;
using System.Globalization;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>One trial as a study's store holds it, whatever its status (running ones included).</summary>
internal sealed record StoredTrial(int Id, string ParametersJson, string Status, double? Metric, int Epochs, int PlannedEpochs,
    double Seconds, string? Reason, string Worker, string Device, int? RerunOf);

/// <summary>A trial's validation metric (and loss) at the end of one epoch.</summary>
internal sealed record StoredEpoch(int Trial, int Epoch, double? Metric, double? ValidationLoss);

/// <summary>What ASHA saw at a rung: the loss (the metric to minimise) a trial recorded there.</summary>
internal sealed record StoredRung(int Trial, int Rung, double Loss);

/// <summary>Everything a study's store holds, read in one transaction: what a dashboard of a running study shows.</summary>
internal sealed record StudySnapshot(string Study, string Source, double SecondsSinceStart, int? BestTrial,
    IReadOnlyList<(string Key, string Value)> Settings, IReadOnlyList<StoredTrial> Trials, IReadOnlyList<StoredEpoch> Epochs,
    IReadOnlyList<StoredRung> Rungs);

internal sealed partial class TrialStore
{
    /// <summary>Records trial <paramref name="id"/>'s validation <paramref name="metric"/> and loss at the end of <paramref name="epoch"/>.</summary>
    public void RecordEpoch(int id, int epoch, double metric, double? validationLoss) => InTransaction(transaction =>
        Execute(transaction, "INSERT INTO sape2_epochs (study, trial, epoch, metric, validation_loss) VALUES (@study, @trial, @epoch, @metric, " +
            "@loss) ON CONFLICT (study, trial, epoch) DO UPDATE SET metric = excluded.metric, validation_loss = excluded.validation_loss",
            ("@study", Study), ("@trial", id), ("@epoch", epoch), ("@metric", Finite(metric)),
            ("@loss", validationLoss is { } loss ? Finite(loss) : DBNull.Value)));

    /// <summary>The study as it stands: settings, every trial, every epoch's metric and every rung's loss.</summary>
    public StudySnapshot Snapshot() => InTransaction(transaction =>
    {
        double started = 0, now = 0;
        int? best = null;
        using (var read = Command(transaction, $"SELECT started, {Now}, best_trial FROM sape2_studies WHERE name = @study", ("@study", Study)))
        using (var reader = read.ExecuteReader())
            if (reader.Read()) (started, now, best) = (reader.GetDouble(0), reader.GetDouble(1), reader.IsDBNull(2) ? null : reader.GetInt32(2));
        var settings = Rows(transaction, "SELECT key, value FROM sape2_settings WHERE study = @study ORDER BY key",
            r => (r.GetString(0), r.GetString(1)));
        var trials = Rows(transaction, "SELECT id, parameters, status, metric, epochs, planned_epochs, seconds, reason, worker, device, " +
            "rerun_of FROM sape2_trials WHERE study = @study ORDER BY id",
            r => new StoredTrial(r.GetInt32(0), r.GetString(1), r.GetString(2), NullableDouble(r, 3), r.GetInt32(4), r.GetInt32(5),
                r.GetDouble(6), r.IsDBNull(7) ? null : r.GetString(7), r.GetString(8), r.GetString(9), r.IsDBNull(10) ? null : r.GetInt32(10)));
        var epochs = Rows(transaction, "SELECT trial, epoch, metric, validation_loss FROM sape2_epochs WHERE study = @study ORDER BY trial, epoch",
            r => new StoredEpoch(r.GetInt32(0), r.GetInt32(1), NullableDouble(r, 2), NullableDouble(r, 3)));
        var rungs = Rows(transaction, "SELECT trial, rung, loss FROM sape2_rungs WHERE study = @study ORDER BY rung, trial",
            r => new StoredRung(r.GetInt32(0), r.GetInt32(1), r.GetDouble(2)));
        return new StudySnapshot(Study, source, Math.Max(0, now - started), best, settings, trials, epochs, rungs);
    });

    private List<T> Rows<T>(DbTransaction transaction, string sql, Func<DbDataReader, T> row)
    {
        using var read = Command(transaction, sql, ("@study", Study));
        using var reader = read.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(row(reader));
        return rows;
    }

    private static double? NullableDouble(DbDataReader reader, int column) =>
        reader.IsDBNull(column) ? null : Convert.ToDouble(reader.GetValue(column), CultureInfo.InvariantCulture);
}
