using System.Diagnostics;

namespace Sape2.Benchmarks;

/// <summary>
/// This benchmark program started again in another mode, as a child process: through `dotnet` when the parent runs under it,
/// else as the executable itself (the self-contained app packed for the GPU machine, which has no `dotnet`).
/// </summary>
internal static class ChildMode
{
    public static ProcessStartInfo StartInfo(params string[] arguments)
    {
        string host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host);
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(typeof(ChildMode).Assembly.Location);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        return start;
    }
}
