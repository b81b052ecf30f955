using System.Data.Common;
using System.Globalization;
using System.Text.Json;

namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>A trial a worker claimed: its id, and the trial it reruns when that one's worker went silent.</summary>
internal sealed record ClaimedTrial(int Id, Sape2TrialParameters Parameters, bool NeverPrune, int Seed, int? RerunOf);

internal sealed partial class TrialStore
{
    private const string Running = nameof(Sape2TrialStatus.Running), Interrupted = "Interrupted";

    /// <summary>
    /// Claims the study's next trial for <paramref name="worker"/> on <paramref name="device"/>, atomically: under the study's lock, a
    /// running trial whose heartbeat is older than <paramref name="heartbeatTimeout"/> is marked interrupted and its parameters are claimed
    /// again under a new id; otherwise <paramref name="propose"/> gives the parameters of the next id. Null when the study holds
    /// <paramref name="maxTrials"/> trials (interrupted ones not counted) or <paramref name="propose"/> has nothing.
    /// </summary>
    public ClaimedTrial? Claim(string worker, string device, TimeSpan heartbeatTimeout, int? maxTrials,
        Sape2SearchSpace space, Func<int, (Sape2TrialParameters Parameters, bool NeverPrune, int Seed)?> propose) => InTransaction(transaction =>
    {
        LockStudy(transaction);
        using var next = Command(transaction, "SELECT COALESCE(MAX(id) + 1, 0) FROM sape2_trials WHERE study = @study", ("@study", Study));
        int id = Convert.ToInt32(next.ExecuteScalar(), CultureInfo.InvariantCulture);

        // A silent worker's trial first: it takes the place of the trial it reruns, so it is claimed even when the study is full.
        ClaimedTrial? claim = null;
        using (var stale = Command(transaction, $"SELECT id, parameters, never_prune, seed FROM sape2_trials WHERE study = @study AND " +
            $"status = @running AND heartbeat < {Now} - @timeout ORDER BY id LIMIT 1", ("@study", Study), ("@running", Running),
            ("@timeout", heartbeatTimeout.TotalSeconds)))
        using (var reader = stale.ExecuteReader())
            if (reader.Read())
                claim = new ClaimedTrial(id, space.FromJson(reader.GetString(1)), reader.GetInt32(2) != 0, reader.GetInt32(3), reader.GetInt32(0));
        if (claim is not null)
            Execute(transaction, "UPDATE sape2_trials SET status = @interrupted, reason = @reason WHERE study = @study AND id = @id",
                ("@interrupted", Interrupted), ("@reason", $"its worker stopped sending heartbeats; rerun as trial {id}"), ("@study", Study),
                ("@id", claim.RerunOf!.Value));
        else
        {
            if (maxTrials is { } most && CountClaimed(transaction) >= most) return null;
            if (propose(id) is not { } proposal) return null;
            claim = new ClaimedTrial(id, proposal.Parameters, proposal.NeverPrune, proposal.Seed, null);
        }

        Execute(transaction, "INSERT INTO sape2_trials (study, id, parameters, status, rung_metrics, epochs, planned_epochs, seconds, peak_memory, " +
            $"never_prune, seed, worker, device, heartbeat, rerun_of) VALUES (@study, @id, @parameters, @running, '{{}}', 0, 0, 0, 0, @neverPrune, " +
            $"@seed, @worker, @device, {Now}, @rerunOf)", ("@study", Study), ("@id", id), ("@parameters", space.ToJson(claim.Parameters)),
            ("@running", Running), ("@neverPrune", claim.NeverPrune ? 1 : 0), ("@seed", claim.Seed), ("@worker", worker), ("@device", device),
            ("@rerunOf", (object?)claim.RerunOf ?? DBNull.Value));
        return claim;
    });

    /// <summary>Refreshes the heartbeat of <paramref name="worker"/>'s running trial; false when it is no longer that worker's to finish.</summary>
    public bool Heartbeat(int id, string worker) => InTransaction(transaction =>
    {
        using var update = Command(transaction, $"UPDATE sape2_trials SET heartbeat = {Now} WHERE study = @study AND id = @id AND " +
            "status = @running AND worker = @worker", ("@study", Study), ("@id", id), ("@running", Running), ("@worker", worker));
        return update.ExecuteNonQuery() == 1;
    });

    /// <summary>
    /// Forgets the running trials of an earlier run of a study only one process works on (a checkpoint folder): they run again. A
    /// shared study never does this; its silent trials are rerun by heartbeat.
    /// </summary>
    public int RemoveUnfinished() => InTransaction(transaction =>
    {
        using var delete = Command(transaction, "DELETE FROM sape2_trials WHERE study = @study AND status = @running", ("@study", Study),
            ("@running", Running));
        return delete.ExecuteNonQuery();
    });

    /// <summary>Records a result; false (and nothing written) when the trial is no longer this worker's: it was rerun elsewhere.</summary>
    public bool Finished(Sape2TrialResult r, string worker) => InTransaction(transaction =>
    {
        using var update = Command(transaction, "UPDATE sape2_trials SET status = @status, metric = @metric, loss = @loss, rung_metrics = @rungs, " +
            "epochs = @epochs, planned_epochs = @planned, seconds = @seconds, peak_memory = @peak, reason = @reason WHERE study = @study AND " +
            "id = @id AND status = @running AND worker = @worker",
            ("@study", Study), ("@id", r.TrialId), ("@status", r.Status.ToString()), ("@metric", Finite(r.Metric)), ("@loss", Finite(r.Loss)),
            ("@rungs", JsonSerializer.Serialize(r.MetricPerRung)), ("@epochs", r.EpochsTrained), ("@planned", r.PlannedEpochs),
            ("@seconds", r.Seconds), ("@peak", r.PeakMemoryBytes), ("@reason", (object?)r.Reason ?? DBNull.Value), ("@running", Running),
            ("@worker", worker));
        return update.ExecuteNonQuery() == 1;
    });

    /// <summary>Records trial <paramref name="id"/>'s <paramref name="loss"/> at ASHA's <paramref name="rung"/>; returns every loss recorded there
    /// in the study, this one included.</summary>
    public IReadOnlyList<double> RecordRung(int id, int rung, double loss) => InTransaction(transaction =>
    {
        LockStudy(transaction);   // the rule compares with the results recorded before this one, by every worker
        Execute(transaction, "INSERT INTO sape2_rungs (study, trial, rung, loss) VALUES (@study, @trial, @rung, @loss) ON CONFLICT (study, trial, " +
            "rung) DO UPDATE SET loss = excluded.loss", ("@study", Study), ("@trial", id), ("@rung", rung),
            ("@loss", double.IsFinite(loss) ? loss : double.MaxValue));
        using var read = Command(transaction, "SELECT loss FROM sape2_rungs WHERE study = @study AND rung = @rung", ("@study", Study),
            ("@rung", rung));
        using var reader = read.ExecuteReader();
        var losses = new List<double>();
        while (reader.Read()) losses.Add(reader.GetDouble(0));
        return losses;
    });

    /// <summary>The study's finished trials (not running, not interrupted), in id order, with their never-prune flag, worker and device.</summary>
    public IReadOnlyList<(Sape2TrialResult Result, bool NeverPrune, string Worker)> FinishedTrials(Sape2SearchSpace space) =>
        InTransaction(transaction =>
    {
        using var read = Command(transaction, "SELECT id, parameters, status, metric, loss, rung_metrics, epochs, planned_epochs, seconds, " +
            "peak_memory, reason, never_prune, seed, worker, device FROM sape2_trials WHERE study = @study AND status <> @running AND " +
            "status <> @interrupted ORDER BY id", ("@study", Study), ("@running", Running), ("@interrupted", Interrupted));
        using var reader = read.ExecuteReader();
        var trials = new List<(Sape2TrialResult, bool, string)>();
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
                Worker = reader.GetString(13), Device = reader.GetString(14),
            }, reader.GetInt32(11) != 0, reader.GetString(13)));
        }
        return trials;
    });

    /// <summary>How many of the study's trials are in each status (interrupted included): for tests and reports.</summary>
    public IReadOnlyDictionary<string, int> StatusCounts() => InTransaction(transaction =>
    {
        using var read = Command(transaction, "SELECT status, count(*) FROM sape2_trials WHERE study = @study GROUP BY status", ("@study", Study));
        using var reader = read.ExecuteReader();
        var counts = new Dictionary<string, int>();
        while (reader.Read()) counts[reader.GetString(0)] = Convert.ToInt32(reader.GetValue(1), CultureInfo.InvariantCulture);
        return counts;
    });

    /// <summary>The study's best trial and where its model was written, or null.</summary>
    public (int Trial, string Path)? Best() => InTransaction(transaction => BestOf(transaction));

    /// <summary>
    /// Makes trial <paramref name="trialId"/> the study's best when <paramref name="isBetter"/> says it beats the recorded best (given that
    /// trial's epochs and loss, or null when there is none), writing its model with <paramref name="save"/> first; atomically, so two
    /// workers never both win.
    /// </summary>
    public bool OfferBest(int trialId, Func<(int Epochs, double Loss)?, bool> isBetter, Func<string> save) => InTransaction(transaction =>
    {
        LockStudy(transaction);
        (int, double)? recorded = null;
        if (BestOf(transaction) is { } best)
        {
            using var read = Command(transaction, "SELECT epochs, loss FROM sape2_trials WHERE study = @study AND id = @id", ("@study", Study),
                ("@id", best.Trial));
            using var reader = read.ExecuteReader();
            if (reader.Read()) recorded = (reader.GetInt32(0), reader.IsDBNull(1) ? double.PositiveInfinity : reader.GetDouble(1));
        }
        if (!isBetter(recorded)) return false;
        string path = save();
        Execute(transaction, "UPDATE sape2_studies SET best_trial = @trial, best_path = @path WHERE name = @study", ("@trial", trialId),
            ("@path", path), ("@study", Study));
        return true;
    });

    /// <summary>The study's trials that count: claimed and not interrupted.</summary>
    public int ClaimedCount() => InTransaction(CountClaimed);

    private int CountClaimed(DbTransaction transaction)
    {
        using var count = Command(transaction, "SELECT count(*) FROM sape2_trials WHERE study = @study AND status <> @interrupted",
            ("@study", Study), ("@interrupted", Interrupted));
        return Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private (int Trial, string Path)? BestOf(DbTransaction transaction)
    {
        using var read = Command(transaction, "SELECT best_trial, best_path FROM sape2_studies WHERE name = @study", ("@study", Study));
        using var reader = read.ExecuteReader();
        return reader.Read() && !reader.IsDBNull(0) ? (reader.GetInt32(0), reader.GetString(1)) : null;
    }

    /// <summary>Holds the study's row until the transaction ends (SQLite's transaction already holds the whole file).</summary>
    private void LockStudy(DbTransaction transaction)
    {
        if (postgres) Execute(transaction, "SELECT name FROM sape2_studies WHERE name = @study FOR UPDATE", ("@study", Study));
    }
}
