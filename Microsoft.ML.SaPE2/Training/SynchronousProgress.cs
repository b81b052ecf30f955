namespace Microsoft.ML.SaPE2;

/// <summary>
/// An <see cref="IProgress{T}"/> that reports on the training thread itself, in order. <see cref="Progress{T}"/> posts
/// each report to the thread pool, so a cancellation or a console update made from it can land several steps late.
/// </summary>
public sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    /// <inheritdoc />
    public void Report(TrainingProgress value) => report(value);
}
