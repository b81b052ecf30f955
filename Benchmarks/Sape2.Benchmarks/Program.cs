using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Modeling;
using Sape2.Benchmarks;
using TorchSharp;
using static TorchSharp.torch;

// Benchmark programs. Each mode prints Markdown rows with the machine they ran on; Docs/benchmarks.md keeps them with
// the command that produced them. `--out DIR` also writes the report to DIR/<mode>.md.
string mode = args.Length > 0 ? args[0] : "help";
string Arg(string name, string fallback) { int i = Array.IndexOf(args, "--" + name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
string repo = Arg("repo", FindRepositoryRoot());
string? outDir = Arg("out", "");
var console = Console.Out;
using var file = string.IsNullOrEmpty(outDir) ? null : new StreamWriter(Path.Combine(Directory.CreateDirectory(outDir).FullName, $"{mode}.md"));
TextWriter report = file is null ? console : new TeeWriter(console, file);

bool childProcess = mode is "model-file-load" or "small-data-one" or "photos-one" or "memory-one" or "cuda-to-cpu-load";
if (!childProcess) report.WriteLine($"<!-- {mode}: {Environment.ProcessorCount} cores, " +
    $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC -->");
// Those never load libtorch beside LightGBM (or ML.NET's ONNX Runtime); the trainer sets its threads.
if (mode is not ("small-data" or "small-data-one" or "photos" or "photos-one"))
    torch.set_num_threads(int.Parse(Arg("threads", Environment.ProcessorCount.ToString())));
switch (mode)
{
    case "learn":
        var kinds = Arg("kinds", "None,Absolute,Sape2").Split(',').Select(Enum.Parse<PositionEncodingKind>);
        var setup = new LearnBenchmark.Setup(int.Parse(Arg("epochs", "10")), double.Parse(Arg("lr", "2e-3")),
            int.Parse(Arg("batch", "64")), int.Parse(Arg("patch", "7")))
        {
            Preset = Enum.Parse<VitPreset>(Arg("preset", "Micro")), Tokenizer = Enum.Parse<TokenizerKind>(Arg("tokenizer", "Patch")),
            Pooling = Enum.Parse<PoolingKind>(Arg("pooling", "ClassToken")),
                Initialization = Enum.Parse<WeightInitialization>(Arg("init", "TruncatedNormal")),
            EmbedDim = int.Parse(Arg("dim", "0")), Depth = int.Parse(Arg("depth", "0")), Heads = int.Parse(Arg("heads", "0")),
            Padding = int.Parse(Arg("pad", "2")), Flip = args.Contains("--flip"), WeightDecay = double.Parse(Arg("wd", "0.05")),
            LabelSmoothing = double.Parse(Arg("smoothing", "0")), Warmup = double.Parse(Arg("warmup", "1")),
                MixProbability = double.Parse(Arg("mix", "0")),
            Clip = double.Parse(Arg("clip", "1")), Device = Arg("device", "cpu"),
            Precisions = Arg("precisions", nameof(TrainingPrecision.Float32)),
        };
        LearnBenchmark.Run(Path.Combine(repo, "Samples", "data", "fashion-mnist-mini"), setup, kinds);
        break;
    case "small-data":
        int photos = int.Parse(Arg("synthetic-photos", "0"));
        string smallData = photos > 0
            ? SyntheticPhotos.Write(Directory.CreateTempSubdirectory("sape2-photos-").FullName, photos)
            : Arg("data", Path.Combine(repo, "Samples", "data", "fashion-mnist-mini"));
        SmallDataBenchmark.Run(smallData, Arg("trainers", "sape2,lightgbm,sdca").Split(','), int.Parse(Arg("pixels", "28")), report);
        if (photos > 0) Directory.Delete(smallData, recursive: true);
        break;
    case "photos":
        int syntheticPhotos = int.Parse(Arg("synthetic-photos", "0"));   // photo-shaped stand-ins: time and memory, not accuracy
        string photoData = syntheticPhotos > 0
            ? SyntheticPhotos.Write(Directory.CreateTempSubdirectory("sape2-photos-").FullName, syntheticPhotos)
            : Arg("data", "");
        PhotosBenchmark.Run(photoData, Arg("seeds", "1,2,3").Split(',').Select(int.Parse).ToList(),
            Arg("encodings", "Sape2+APE,Absolute,None").Split(',', StringSplitOptions.RemoveEmptyEntries), report);
        if (syntheticPhotos > 0) Directory.Delete(photoData, recursive: true);
        break;
    case "backbone":
        BackboneBenchmark.Run(int.Parse(Arg("stride", "32")), Arg("batches", "1,8,16,32").Split(',').Select(int.Parse).ToArray(), report);
        break;
    case "photos-one":
        PhotosBenchmark.RunOne(args[1], args[2], int.Parse(args[3]));
        return 0;
    case "small-data-one":
        SmallDataBenchmark.RunOne(args[1], args[2], int.Parse(args[3]));
        return 0;
    case "fuzz":
        var fuzz = DecoderFuzz.Run(int.Parse(Arg("cases", "5000")), int.Parse(Arg("seed", "1")));
        report.WriteLine("| cases | decoded | refused with a message naming the case | other outcomes | slowest case | peak resident growth |");
        report.WriteLine("|---|---|---|---|---|---|");
        report.WriteLine($"| {fuzz.Cases:N0} | {fuzz.Decoded:N0} | {fuzz.Refused:N0} | {fuzz.Failures.Count} | " +
            $"{fuzz.Slowest.TotalMilliseconds:F0} ms | {fuzz.PeakGrowthBytes / (1 << 20):N0} MiB |");
        foreach (var failure in fuzz.Failures.Take(20)) report.WriteLine($"- {failure}");
        return fuzz.Failures.Count == 0 ? 0 : 1;
    case "automl":
        AutoMLBenchmark.Run(Arg("data", Path.Combine(repo, "Samples", "data", "fashion-mnist-mini")), uint.Parse(Arg("seconds", "300")),
            int.Parse(Arg("seed", "1")), bool.Parse(Arg("final-fit", "true")), bool.Parse(Arg("ensemble", "true")), report);
        break;
    case "memory":
        MemoryBenchmark.Run(report);
        break;
    case "memory-one":
        MemoryBenchmark.RunOne(args[1]);
        return 0;
    case "pipeline":
        report.WriteLine("| what | rate |");
        report.WriteLine("|---|---|");
        PipelineBenchmark.Run(CPU, VitPreset.Micro, 128, report);
        break;
    case "train-step":
        TrainStepBenchmark.Run(new[] { (VitPreset.Micro, 128, 5), (VitPreset.Tiny, 32, 2) }, CPU, report);
        break;
    case "threads":
        ThreadsBenchmark.Run(report);
        break;
    case "model-file":
        report.WriteLine("| what | figure |");
        report.WriteLine("|---|---|");
        ModelFileBenchmark.Run(report, withPredictions: !args.Contains("--no-predictions"));
        break;
    case "model-file-load":
        ModelFileBenchmark.LoadChild(args[1]);
        return 0;
    case "gpu":
        return GpuBenchmark.Run(report);
    case "layer":
        LayerBenchmark.Run(report, int.Parse(Arg("rounds", "7")), int.Parse(Arg("calls", "200")));
        break;
    case "gpu-speed":
        return GpuSpeedBenchmark.Run(report, int.Parse(Arg("rounds", "5")), args.Contains("--smoke"));
    case "cuda-to-cpu":
        return CudaToCpuCheck.Run(report, Arg("device", "cuda"));
    case "cuda-to-cpu-load":
        return CudaToCpuCheck.LoadChild(args[1], args[2]);
    case "ops":
        OpsBenchmark.Run(report, args.Contains("--list"));
        break;
    case "pytorch-fixtures":
        InteropFixtures.Write(repo, Arg("out", "pytorch-fixtures"), int.Parse(Arg("images", "64")), report);
        break;
    case "onnx":
        OnnxBenchmark.Run(report, int.Parse(Arg("runs", "200")));
        break;
    default:
        Console.WriteLine("usage: Sape2.Benchmarks small-data|automl|learn|memory|fuzz|pipeline|train-step|threads|model-file|gpu|" +
            "gpu-speed|cuda-to-cpu|onnx|layer|ops|" +
            "pytorch-fixtures " +
            "[--threads N] [--out DIR] [--epochs N --lr X --kinds A,B --batch N --patch N] [--data DIR | --synthetic-photos N] " +
            "[--trainers sape2,lightgbm,sdca --pixels N] [--cases N --seed N] [--seconds N]");
        return mode == "help" ? 0 : 2;
}
return 0;

static string FindRepositoryRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "SaPE2MLNet.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}

/// <summary>Writes to the console and a report file at once.</summary>
sealed class TeeWriter(TextWriter first, TextWriter second) : TextWriter
{
    public override System.Text.Encoding Encoding => first.Encoding;
    public override void Write(char value) { first.Write(value); second.Write(value); }
    public override void Write(string? value) { first.Write(value); second.Write(value); }
    public override void WriteLine(string? value) { first.WriteLine(value); second.WriteLine(value); }
    public override void Flush() { first.Flush(); second.Flush(); }
}
