using System.CommandLine;
using Sape2.Cli;
using Spectre.Console;

// sape2: train, sweep, compare, probe the robustness of, evaluate, predict with and explain SaPE² vision transformers. Exit codes:
// 0 success, 1 a problem with the input or the run (one line on stderr saying what and what to do), 2 bad command-line usage.
var verbose = new Option<bool>("--verbose") { Description = "Show full exception details on errors.", Recursive = true };
var root = new RootCommand("Train, evaluate and explain SaPE² vision transformers (ML.NET + TorchSharp).") { verbose };
root.Subcommands.Add(TrainCommand.Create(verbose));
root.Subcommands.Add(SweepCommand.Create(verbose));
root.Subcommands.Add(Sape2.Cli.Dashboard.DashboardCommand.Create(verbose));
root.Subcommands.Add(CompareCommand.Create(verbose));
root.Subcommands.Add(RobustnessCommand.Create(verbose));
root.Subcommands.Add(PatternsCommand.Create(verbose));
root.Subcommands.Add(InteropCommands.Export(verbose));
root.Subcommands.Add(InteropCommands.Import(verbose));
root.Subcommands.Add(ModelCommands.Evaluate(verbose));
root.Subcommands.Add(ModelCommands.Predict(verbose));
root.Subcommands.Add(ModelCommands.Explain(verbose));
root.Subcommands.Add(ModelCommands.Info(verbose));
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
    Console.Error.WriteLine("Run 'sape2 --help' for usage.");
    return 2;
}
return parsed.Invoke();

namespace Sape2.Cli
{
    /// <summary>Runs a command body and turns failures into one clear line and exit code 1.</summary>
    internal static class Guard
    {
        public static int Run(bool verbose, Func<int> body)
        {
            try
            {
                return body();
            }
            catch (Exception e) when (e is not OutOfMemoryException || e is InsufficientMemoryException)
            {
                var inner = Innermost(e);
                if (verbose) AnsiConsole.WriteException(e);
                Console.Error.WriteLine($"error: {inner.Message}");
                if (!verbose) Console.Error.WriteLine("(run with --verbose for details)");
                return 1;
            }
        }

        /// <summary>
        /// The exception that says what went wrong: ML.NET wraps a failure inside a loader or a parallel cursor
        /// ("Splitter/consolidator worker encountered exception…") around the one that names the row and the reason.
        /// </summary>
        public static Exception Innermost(Exception e) =>
            e.InnerException is { } inner && (e is System.Reflection.TargetInvocationException or AggregateException
                || e.Message.StartsWith("Splitter/consolidator worker encountered exception", StringComparison.Ordinal)) ? Innermost(inner) : e;
    }
}
