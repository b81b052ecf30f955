using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// How many of SaPE²'s cumulative positions (Eq. 10) reach the last entry of the embedding table, where the clamp holds
/// them: none can on the training grid, and on a larger grid every one past the entry is read as that entry. Safe to
/// share between layers and threads.
/// </summary>
internal sealed class PositionClampCounter
{
    private long total, reached;

    /// <summary>Positions counted.</summary>
    public long Total => Interlocked.Read(ref total);
    /// <summary>Positions at or past the last table entry.</summary>
    public long Reached => Interlocked.Read(ref reached);
    /// <summary>The share of positions at or past the last entry; 0 before any was counted.</summary>
    public double Fraction => Total == 0 ? 0 : (double)Reached / Total;

    /// <summary>Counts <paramref name="positions"/> (any shape) against the last entry <paramref name="lastEntry"/> (M − 1).</summary>
    public void Count(Tensor positions, long lastEntry)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var last = lastEntry.ToScalar();   // owned, alive through the native call (TorchSharpScalarTests)
        Interlocked.Add(ref reached, positions.ge(last).sum().item<long>());
        Interlocked.Add(ref total, positions.numel());
    }
}
