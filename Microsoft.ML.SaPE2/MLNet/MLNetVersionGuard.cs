using System.Reflection;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// Fails fast on an ML.NET other than the one this library was compiled against. Every ML.NET release has assembly
/// version 1.0.0.0, so the runtime would not notice; the internals we use are only known to match 5.0.1.
/// </summary>
internal static class MLNetVersionGuard
{
    /// <summary>The Microsoft.ML package version the library was built and tested with.</summary>
    public const string SupportedVersion = "5.0.1";

    private static readonly Lazy<string?> Problem = new(() =>
    {
        foreach (var assembly in new[] { typeof(MLContext).Assembly, typeof(Microsoft.ML.Data.TextLoader).Assembly })
        {
            string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            if (!version.Split('+')[0].Equals(SupportedVersion, StringComparison.Ordinal))
                return $"Microsoft.ML.SaPE2 works with Microsoft.ML {SupportedVersion} only, but {assembly.GetName().Name} {version} is loaded. " +
                    $"Reference Microsoft.ML {SupportedVersion} (the package pins it) or a Microsoft.ML.SaPE2 built for your ML.NET.";
        }
        return null;
    });

    /// <summary>Throws <see cref="NotSupportedException"/> before any ML.NET internal is touched.</summary>
    public static void Check()
    {
        if (Problem.Value is { } message) throw new NotSupportedException(message);
    }
}
