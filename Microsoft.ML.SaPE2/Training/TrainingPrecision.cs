namespace Microsoft.ML.SaPE2;

/// <summary>The number format a SaPE² model trains in. Scoring is always in fp32.</summary>
public enum TrainingPrecision
{
    /// <summary>fp32 throughout (the default).</summary>
    Float32 = 0,

    /// <summary>
    /// bf16 mixed precision: the forward and backward run in bf16 (on tensor cores, on a GPU that has them), with fp32 master
    /// weights and optimizer state; softmaxes, layer and batch norms and SaPE²'s positions and distances compute in fp32. No
    /// loss scaling is needed. Meant for large images on a GPU; on a CPU it works but is rarely faster.
    /// </summary>
    BFloat16 = 1,
}
