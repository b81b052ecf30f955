namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>Proposes trial parameters and learns from results (ML.NET AutoML's <c>ITuner</c>, named apart so both can be imported).</summary>
public interface ISape2Tuner
{
    /// <summary>The parameters of the next trial; null when the tuner has nothing more to try (a finished grid).</summary>
    Sape2TrialParameters? Propose(Sape2TrialSettings settings);

    /// <summary>Learns from a finished trial, including trials the tuner did not propose (trial 0, the other encodings).</summary>
    void Update(Sape2TrialResult result);
}
