namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>Receives an experiment's events (ML.NET AutoML's <c>IMonitor</c>, named apart); every method is optional.</summary>
public interface ISape2Monitor
{
    /// <summary>A trial starts.</summary>
    void ReportRunningTrial(Sape2TrialSettings settings) { }
    /// <summary>A trial finished an epoch.</summary>
    void ReportEpoch(Sape2TrialSettings settings, TrainingProgress progress) { }
    /// <summary>A trial trained all its epochs.</summary>
    void ReportCompletedTrial(Sape2TrialResult result) { }
    /// <summary>A trial was stopped at a rung or for sitting at chance.</summary>
    void ReportPrunedTrial(Sape2TrialResult result) { }
    /// <summary>A trial failed; the experiment goes on.</summary>
    void ReportFailTrial(Sape2TrialSettings settings, Exception exception) { }
    /// <summary>A trial became the best so far.</summary>
    void ReportBestTrial(Sape2TrialResult result) { }
}
