namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// The trials whose models the returned model averages (Caruana's ensemble selection on the validation rows, as auto-sklearn and
/// AutoGluon build theirs), the returned trial first.
/// </summary>
/// <param name="TrialIds">The member trials, the returned trial first.</param>
/// <param name="Weights">Each member's weight in the averaged probabilities (summing to 1), in the order of <paramref name="TrialIds"/>:
/// how often selection picked it, the final fit's raised to the largest.</param>
/// <param name="ValidationMetric">The experiment's metric of the trial models' average on the validation rows it was selected on (an
/// optimistic figure; the final fit, when there was one, is not in it).</param>
public sealed record Sape2Ensemble(IReadOnlyList<int> TrialIds, IReadOnlyList<float> Weights, double ValidationMetric);
