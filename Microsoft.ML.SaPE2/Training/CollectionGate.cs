using System.Runtime;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// Keeps garbage collections at the boundaries of training steps, where no libtorch call of the training thread is running.
/// TorchSharp 0.107 turns numbers into <c>Scalar</c> objects inside its own operators (AdamW's step makes several per parameter,
/// <c>Tensor + Tensor</c> one for its alpha), passes libtorch only their native handles and frees them from their finalizers. A
/// collection that another thread triggers while such a call runs can free a Scalar libtorch is still reading: seen as libtorch's
/// "Expected false to be true … toFloat" from <c>THSTensor_add_scalar_</c> inside <c>AdamW.step</c> (Docs/reliability.md). Inside a
/// no-GC region other threads' allocations do not collect; the gate opens one before a step and renews it at a step boundary once
/// a megabyte has been allocated, so the collections happen there (each renewal is one blocking collection). Best effort: when the
/// allowance runs out mid-step, or another trainer in the process holds the region, the step runs as it would without the gate.
/// </summary>
internal sealed class CollectionGate : IDisposable
{
    /// <summary>Bytes the process may allocate inside one region: several steps' worth of wrappers and batches.</summary>
    internal const long Allowance = 16L << 20;
    /// <summary>
    /// Bytes allocated after which the region is renewed at the next step. Small: tensors left to their finalizers hold native memory
    /// until a collection, so postponing collections by many megabytes of managed wrappers raised a fit's peak memory (477 to 807 MiB
    /// with renewals every 32 MiB, Fashion-MNIST mini, 4 epochs).
    /// </summary>
    internal const long RenewAfter = 1L << 20;

    private bool open;
    private long allocatedAtStart;

    /// <summary>Whether this gate holds a no-GC region now.</summary>
    public bool Holding => open && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion;

    /// <summary>Call before a step (or a batch of libtorch calls): keeps or renews the region.</summary>
    public void BeforeStep()
    {
        if (Holding && GC.GetTotalAllocatedBytes() - allocatedAtStart < RenewAfter) return;
        Close();
        // Another gate's region (a second trainer in the process): run without. Starting one now would end theirs.
        if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) return;
        try
        {
            open = GC.TryStartNoGCRegion(Allowance);
            allocatedAtStart = GC.GetTotalAllocatedBytes();
        }
        catch (InvalidOperationException)
        {
            open = false;   // started by another thread between the check and here
        }
    }

    /// <summary>Ends the region this gate holds, if any (a collection that ended it already is not an error).</summary>
    public void Close()
    {
        if (!open) return;
        open = false;
        if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion) return;
        try
        {
            GC.EndNoGCRegion();
        }
        catch (InvalidOperationException)
        {
            // The region had already ended by a collection; nothing to end.
        }
    }

    /// <inheritdoc />
    public void Dispose() => Close();
}
