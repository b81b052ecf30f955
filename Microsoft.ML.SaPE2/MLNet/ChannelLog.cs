using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// Messages to <c>MLContext.Log</c> through an ML.NET channel. ML.NET's own <c>Info</c>/<c>Warning</c> extensions are internal, so code
/// outside this layer (the AutoML experiment) logs with <c>Log</c>/<c>Warn</c> and the internals stay in MLNet/ (<c>MLNetInternalsTests</c>).
/// </summary>
internal static class ChannelLog
{
    public static void Log(this IChannel channel, string message) => channel.Info(message);

    public static void Warn(this IChannel channel, string message) => channel.Warning(message);
}
