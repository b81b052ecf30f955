namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// Linear warm-up to the peak, then cosine decay to the minimum — a pure function of the step.
/// Warm-up is capped at half of the run.
/// </summary>
internal sealed record LearningRateSchedule(double Peak, double Minimum, long WarmupSteps, long TotalSteps)
{
    /// <summary>The learning rate of optimiser step <paramref name="step"/> (counted from 0).</summary>
    public double At(long step)
    {
        long warmup = Math.Min(WarmupSteps, TotalSteps / 2);
        // 1) warm-up: climb linearly, reaching the peak on the last warm-up step
        if (step < warmup) return Peak * (step + 1) / warmup;
        // 2) past the end: stay at the minimum
        if (step >= TotalSteps) return Minimum;
        // 3) cosine from the peak down to the minimum
        double progress = (double)(step - warmup) / Math.Max(1, TotalSteps - warmup);
        return Minimum + 0.5 * (Peak - Minimum) * (1 + Math.Cos(Math.PI * progress));
    }
}
