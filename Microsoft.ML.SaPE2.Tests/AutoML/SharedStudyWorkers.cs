using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>
/// The PostgreSQL server the shared-study tests use, and `sape2 sweep` worker processes for them. The server is the one named in
/// SAPE2_TEST_POSTGRES (a connection string; .ci/run starts a throw-away one with eng/postgres.sh and sets it); without it those tests
/// are reported as not run, with the reason — a test run never installs or starts a server itself.
/// </summary>
internal static class SharedStudyWorkers
{
    public const string ServerVariable = "SAPE2_TEST_POSTGRES";

    /// <summary>The connection string of the test server; marks the calling test inconclusive (not run) when none is named.</summary>
    public static string Postgres()
    {
        if (Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } given) return given;
        Assert.Inconclusive($"Not run: this test needs a PostgreSQL server. Set {ServerVariable} to its connection string (e.g. " +
            $"\"Host=127.0.0.1;Port=5432;Username=postgres;Database=postgres\"), or run .ci/run, which starts one with eng/postgres.sh.");
        return "";
    }

    /// <summary>A `sape2 sweep` worker process on <paramref name="data"/>, writing to <paramref name="output"/>; SAPE2_STORAGE is
    /// <paramref name="storageVariable"/> when given (the connection string stays off the command line).</summary>
    public static Process Start(string data, string output, string? storageVariable, int epochs, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sape2.dll"));
        foreach (var argument in new[] { "sweep", "--data", data, "--out", output, "--epochs", $"{epochs}", "--image-size", "16", "--threads", "1",
            "--seed", "5" }.Concat(arguments))
            start.ArgumentList.Add(argument);
        start.Environment["SAPE2_STORAGE"] = storageVariable ?? "";
        return Process.Start(start)!;
    }

    /// <summary>Waits for <paramref name="worker"/>; returns its exit code and the trial ids its monitor reported (`trial   3: …`).</summary>
    public static (int ExitCode, int[] Trials, string Output) Finish(Process worker, TimeSpan timeout)
    {
        var output = worker.StandardOutput.ReadToEndAsync();
        var errors = worker.StandardError.ReadToEndAsync();
        if (!worker.WaitForExit(timeout))
        {
            worker.Kill(entireProcessTree: true);
            Assert.Fail($"A worker ran past {timeout.TotalSeconds} s: {output.Result}{errors.Result}");
        }
        var trials = Regex.Matches(output.Result, @"^trial +(\d+): ", RegexOptions.Multiline).Select(m => int.Parse(m.Groups[1].Value)).ToArray();
        return (worker.ExitCode, trials, output.Result + errors.Result);
    }
}
