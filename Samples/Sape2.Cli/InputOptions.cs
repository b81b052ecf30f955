using System.CommandLine;
using Microsoft.ML.SaPE2.Data;

namespace Sape2.Cli;

/// <summary>Where the images come from: the flags `train` and `sweep` share, and the one way they are read.</summary>
internal sealed class InputOptions(long defaultMaxPixels)
{
    public Option<string?> Data { get; } = new("--data") { Description = "Image folder (one sub-folder per class; train/ and test/ inside " +
        "are used as such). Default: the embedded Fashion-MNIST subset." };
    public Option<string[]?> Idx { get; } = new("--idx") { Description = "IDX training images and labels (MNIST/Fashion-MNIST), e.g. --idx " +
        "train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz, optionally followed by the test images and labels; without them the " +
        "official t10k-… files beside the training files are the test set.", AllowMultipleArgumentsPerToken = true,
        Arity = new ArgumentArity(2, 4) };
    public Option<string[]?> Cifar { get; } = new("--cifar") { Description = "CIFAR binary training batches (data_batch_1.bin … or " +
        "CIFAR-100's train.bin); the official test batch (test_batch.bin, or test.bin) beside them, or named here, is the test set.",
        AllowMultipleArgumentsPerToken = true };
    public Option<bool> Cifar100 { get; } = new("--cifar100") { Description = "The --cifar files are CIFAR-100 (fine labels)." };
    public Option<int?> TrainLimit { get; } = new("--train-limit") { Description = "Train on the first N records of the --idx or --cifar " +
        "training files only (their order is random); the test set stays whole." };
    public Option<long> MaxPixels { get; } = new("--max-pixels") { Description = "Refuse images with more pixels than this.",
        DefaultValueFactory = _ => defaultMaxPixels };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Data, Idx, Cifar, Cifar100, TrainLimit, MaxPixels }) command.Options.Add(option);
    }

    /// <summary>
    /// The training and test images: IDX and CIFAR with their official test sets, a folder's train/ and test/, or every
    /// fifth image of a plain folder held out.
    /// </summary>
    public (List<ImageRow> Train, List<ImageRow> Test) Load(ParseResult parse)
    {
        if (parse.GetValue(Idx) is { Length: > 0 } idx)
        {
            if (idx.Length is not (2 or 4))
                throw new ArgumentException($"--idx takes the training images and labels, then optionally the test images and labels: 2 or 4 " +
                    $"files, not {idx.Length}.");
            var (testImages, testLabels) = idx.Length == 4 ? (idx[2], idx[3])
                : (Beside(idx[0], "t10k-images-idx3-ubyte", "--idx TRAIN_IMAGES TRAIN_LABELS TEST_IMAGES TEST_LABELS"),
                    Beside(idx[1], "t10k-labels-idx1-ubyte", "--idx TRAIN_IMAGES TRAIN_LABELS TEST_IMAGES TEST_LABELS"));
            return (ImageRows.FromDataset(IdxFiles.Load(idx[0], idx[1], classNames: IdxFiles.FashionMnistClasses, limit: Limit(parse))),
                ImageRows.FromDataset(IdxFiles.Load(testImages, testLabels, classNames: IdxFiles.FashionMnistClasses)));
        }
        if (parse.GetValue(Cifar) is { Length: > 0 } cifar)
        {
            var variant = parse.GetValue(Cifar100) ? CifarVariant.Cifar100 : CifarVariant.Cifar10;
            string testName = variant == CifarVariant.Cifar10 ? "test_batch.bin" : "test.bin";
            var train = cifar.Where(f => Path.GetFileName(f) != testName).ToArray();
            if (train.Length == 0) throw new ArgumentException($"--cifar names only the test batch {testName}; add the training batches.");
            string test = cifar.FirstOrDefault(f => Path.GetFileName(f) == testName) ?? Beside(train[0], testName, $"--cifar … {testName}");
            var records = ImageRows.FromDataset(CifarFiles.Load(train, variant));
            return (Limit(parse) is > 0 and var limit ? records.Take(limit).ToList() : records,
                ImageRows.FromDataset(CifarFiles.Load([test], variant)));
        }
        if (parse.GetValue(TrainLimit) is not null) throw new ArgumentException("--train-limit applies to --idx and --cifar files.");
        long maxPixels = parse.GetValue(MaxPixels);
        string root = parse.GetValue(Data) ?? ImageRows.EmbeddedData()
            ?? throw new DirectoryNotFoundException("The embedded sample data (Samples/data/fashion-mnist-mini) was not found; run from the " +
                "repository or pass --data.");
        if (Directory.Exists(Path.Combine(root, "train")) && Directory.Exists(Path.Combine(root, "test")))
            return (ImageRows.FromFolder(Path.Combine(root, "train"), maxPixels), ImageRows.FromFolder(Path.Combine(root, "test"), maxPixels));
        return ImageRows.Split(ImageRows.FromFolder(root, maxPixels), every: 5);
    }

    private int Limit(ParseResult parse) => parse.GetValue(TrainLimit) switch
    {
        null => 0,
        > 0 and var limit => limit,
        var other => throw new ArgumentException($"--train-limit must be positive; got {other}."),
    };

    /// <summary>The official test file <paramref name="name"/> (or its .gz) in <paramref name="trainingFile"/>'s folder: a test set
    /// is never cut from the training files.</summary>
    private static string Beside(string trainingFile, string name, string usage)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(trainingFile))!;
        return new[] { name, name + ".gz" }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"The official test file {name} is not in '{folder}' beside the training files; put it " +
                $"there or name it: {usage}.");
    }
}
