using System.Runtime.ExceptionServices;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// Where a hand-written backward (<see cref="Sape2Logits"/>) leaves the exception it cannot throw: libtorch calls a backward from
/// native code, which a .NET exception cannot cross without ending the process, so a failing backward returns no gradients and
/// keeps its exception here for the caller of <c>backward()</c> to raise. One per layer, so per model: two models training at once
/// in one process (two experiment workers) never see each other's failures.
/// </summary>
internal sealed class BackwardFailureSlot
{
    private ExceptionDispatchInfo? failure;

    /// <summary>Keeps <paramref name="exception"/> unless an earlier failure is still waiting to be raised.</summary>
    public void Record(Exception exception) => Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(exception), null);

    /// <summary>Rethrows, once, the failure recorded since the last call, with its original stack trace.</summary>
    public void ThrowIfFailed() => Interlocked.Exchange(ref failure, null)?.Throw();
}
