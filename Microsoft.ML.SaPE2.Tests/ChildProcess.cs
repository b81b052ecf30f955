using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.SaPE2.Tests;

/// <summary>
/// The test assembly doubles as a small program, so a test can load a saved model in a fresh process with a fresh
/// MLContext: <c>dotnet Microsoft.ML.SaPE2.Tests.dll score MODEL.zip IMAGE_FOLDER OUTPUT.txt</c> writes one line of
/// scores (round-trip "R" format) per image of the folder, in file-name order.
/// </summary>
public static class ChildProcess
{
    public static int Main(string[] args)
    {
        if (args.Length != 4 || args[0] != "score")
        {
            Console.Error.WriteLine("usage: score MODEL.zip IMAGE_FOLDER OUTPUT.txt");
            return 2;
        }
        var ml = new MLContext();
        var model = ml.Model.Load(args[1], out var schema);
        var rows = Directory.GetFiles(args[2]).Order(StringComparer.Ordinal).Select(f => new ScoredImage { Image = File.ReadAllBytes(f) });
        var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
        var scores = scored.GetColumn<float[]>("Score").Select(s => string.Join(" ", s.Select(v => v.ToString("R"))));
        var chain = string.Join(",", ((TransformerChain<ITransformer>)model).Select(t => t.GetType().Name));
        File.WriteAllLines(args[3], scores.Prepend(model.GetType().Name + " " + chain));
        return 0;
    }

    /// <summary>Runs this assembly as a child process and returns its exit code and error output.</summary>
    public static (int ExitCode, string Errors) Run(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string errors = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, errors);
    }

    /// <summary>The row shape the child scores.</summary>
    public sealed class ScoredImage
    {
        public byte[] Image { get; set; } = Array.Empty<byte>();
    }
}
