using System.Reflection;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// Fails fast on an ML.NET other than the one this library was compiled against. Every ML.NET release has assembly
/// version 1.0.0.0, so the runtime would not notice; the internals we use (MLNet/Internals/MLNetInternalsUsed.txt) are only known to
/// match the release the build compiled against, and ML.NET's assemblies of two releases do not mix.
/// </summary>
internal static class MLNetVersionGuard
{
    /// <summary>The Microsoft.ML package version this build of the library was compiled and tested against (6.0.0 or 5.0.1).</summary>
    public static string SupportedVersion { get; } = typeof(MLNetVersionGuard).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "MicrosoftMLVersion").Value!;

    private static readonly Lazy<string?> Problem = new(() => ProblemWith(
        new[] { typeof(IHostEnvironment).Assembly, typeof(MLContext).Assembly, typeof(MLImage).Assembly }
            .Select(a => (a.GetName().Name!, a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown"))));

    /// <summary>Why the loaded ML.NET assemblies (name, informational version) do not fit this build, or null when they do.</summary>
    internal static string? ProblemWith(IEnumerable<(string Name, string Version)> loaded)
    {
        foreach (var (name, version) in loaded)
        {
            if (!version.Split('+')[0].Equals(SupportedVersion, StringComparison.Ordinal))
                return $"This build of Microsoft.ML.SaPE2 works with Microsoft.ML {SupportedVersion}, but {name} {version} is loaded. " +
                    $"Reference Microsoft.ML and Microsoft.ML.ImageAnalytics {SupportedVersion} (the package pins them), or a " +
                    "Microsoft.ML.SaPE2 built for your ML.NET (the source builds against 6.0.0 and 5.0.1: -p:MicrosoftMLVersion=5.0.1).";
        }
        return null;
    }

    /// <summary>Throws <see cref="NotSupportedException"/> before any ML.NET internal is touched.</summary>
    public static void Check()
    {
        if (Problem.Value is { } message) throw new NotSupportedException(message);
    }
}
