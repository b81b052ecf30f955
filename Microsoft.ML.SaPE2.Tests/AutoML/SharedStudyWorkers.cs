using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Microsoft.ML.SaPE2.Tests.AutoML;

/// <summary>
/// A throw-away PostgreSQL server (eng/postgres.sh, as .ci/run starts one) and `sape2 sweep` worker processes for the shared-study tests.
/// .ci/run passes its server in SAPE2_TEST_POSTGRES; without it the tests start their own. A server that cannot start fails the tests.
/// </summary>
internal static class SharedStudyWorkers
{
    public const string ServerVariable = "SAPE2_TEST_POSTGRES";
    private static readonly object gate = new();
    private static string? connection, ownServer;

    /// <summary>The connection string of the test server, started on first use.</summary>
    public static string Postgres()
    {
        lock (gate)
        {
            if (connection is not null) return connection;
            if (Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } given) return connection = given;
            ownServer = Path.Combine("/tmp", $"sape2-pg-{Guid.NewGuid():N}");
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            var (code, output, errors) = Execute("bash", Path.Combine(RepositoryPaths.Root, "eng", "postgres.sh"), "start", ownServer, $"{port}");
            if (code != 0) Assert.Fail($"The PostgreSQL test server did not start (eng/postgres.sh exit {code}): {errors}");
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                Execute("bash", Path.Combine(RepositoryPaths.Root, "eng", "postgres.sh"), "stop", ownServer);
                Directory.Delete(ownServer, recursive: true);
            };
            return connection = output.Trim();
        }
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

    private static (int Code, string Output, string Errors) Execute(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result, errors.Result);
    }
}
