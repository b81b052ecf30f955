using System.Runtime.ExceptionServices;

namespace Microsoft.ML.SaPE2.Data;

/// <summary>Decodes many images on all cores; the first bad image by index (naming it) reaches the caller, unwrapped.</summary>
internal static class ParallelDecoding
{
    /// <summary>
    /// Runs <paramref name="body"/> for 0 … <paramref name="count"/>−1 in parallel and rethrows the failure of the lowest
    /// index as itself: every index below a failure still runs, so the same data always reports the same image.
    /// </summary>
    public static void For(int count, Action<int> body)
    {
        var sync = new object();
        (int Index, Exception? Error) first = (int.MaxValue, null);
        Parallel.For(0, count, (i, loop) =>
        {
            try
            {
                body(i);
            }
            catch (Exception e)
            {
                lock (sync) if (i < first.Index) first = (i, e);
                loop.Break();
            }
        });
        if (first.Error is { } error) ExceptionDispatchInfo.Capture(error).Throw();
    }
}
