namespace Microsoft.ML.SaPE2.AutoML;

/// <summary>
/// How the model <see cref="Sape2Experiment.RunAsync"/> returned was trained after the search: the best trial's configuration again,
/// on every training row (the validation hold-back of <c>SetDataset(data)</c> included) and for a schedule as long as the rest of the
/// budget allows (AutoGluon's refit_full, with the budget spent on epochs).
/// </summary>
/// <param name="Epochs">The final fit's planned epochs (its cosine schedule's length).</param>
/// <param name="EpochsTrained">The epochs it trained; fewer when the budget's end or a cancellation cut it short.</param>
/// <param name="TrainingRows">The rows it learned from.</param>
/// <param name="Seconds">Wall-clock seconds, images included.</param>
public sealed record Sape2FinalFit(int Epochs, int EpochsTrained, long TrainingRows, double Seconds);
