using System.Runtime.ExceptionServices;

namespace Microsoft.ML.SaPE2.Data;

/// <summary>Decodes many images on all cores; a bad image's own exception (naming it) reaches the caller, unwrapped.</summary>
internal static class ParallelDecoding
{
    /// <summary>Runs <paramref name="body"/> for 0 … <paramref name="count"/>−1 in parallel and rethrows the first failure as itself.</summary>
    public static void For(int count, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, body);
        }
        catch (AggregateException e)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }
}
