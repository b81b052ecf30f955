using Microsoft.ML.SaPE2.Modeling;
using Sape2.Benchmarks;

// Benchmark programs; each mode prints its figures with the machine it ran on. See Docs/benchmarks.md.
string mode = args.Length > 0 ? args[0] : "help";
string Arg(string name, string fallback) { int i = Array.IndexOf(args, "--" + name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
string repo = Arg("repo", FindRepositoryRoot());

switch (mode)
{
    case "learn":
        var kinds = Arg("kinds", "None,Absolute,Sape2").Split(',').Select(Enum.Parse<PositionEncodingKind>);
        LearnBenchmark.Run(Path.Combine(repo, "Samples", "data", "fashion-mnist-mini"), int.Parse(Arg("epochs", "4")), double.Parse(Arg("lr", "1e-3")), kinds, int.Parse(Arg("batch", "64")), int.Parse(Arg("patch", "7")));
        break;
    default:
        Console.WriteLine("usage: Sape2.Benchmarks learn|pipeline|train-step|threads|gpu [--options]");
        return mode == "help" ? 0 : 2;
}
return 0;

static string FindRepositoryRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "SaPE2MLNet.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}
