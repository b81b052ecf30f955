using System.CommandLine;
using Microsoft.ML.SaPE2.Data;

namespace Sape2.Cli;

/// <summary>Where the images come from: the flags `train` and `sweep` share, and the one way they are read.</summary>
internal sealed class InputOptions(long defaultMaxPixels)
{
    public Option<string?> Data { get; } = new("--data") { Description = "Image folder (one sub-folder per class; train/ and test/ inside " +
        "are used as such). Default: the embedded Fashion-MNIST subset." };
    public Option<string[]?> Idx { get; } = new("--idx") { Description = "IDX images and labels files (MNIST/Fashion-MNIST), e.g. --idx " +
        "train-images.gz train-labels.gz", AllowMultipleArgumentsPerToken = true, Arity = new ArgumentArity(2, 2) };
    public Option<string[]?> Cifar { get; } = new("--cifar") { Description = "CIFAR-10 binary batch files (data_batch_1.bin …)",
        AllowMultipleArgumentsPerToken = true };
    public Option<bool> Cifar100 { get; } = new("--cifar100") { Description = "The --cifar files are CIFAR-100 (fine labels)." };
    public Option<long> MaxPixels { get; } = new("--max-pixels") { Description = "Refuse images with more pixels than this.",
        DefaultValueFactory = _ => defaultMaxPixels };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Data, Idx, Cifar, Cifar100, MaxPixels }) command.Options.Add(option);
    }

    /// <summary>The training and test images: a folder's train/ and test/, or every sixth (fifth for a plain folder) image held out.</summary>
    public (List<ImageRow> Train, List<ImageRow> Test) Load(ParseResult parse)
    {
        if (parse.GetValue(Idx) is { Length: 2 } idx)
            return ImageRows.Split(ImageRows.FromDataset(IdxFiles.Load(idx[0], idx[1], classNames: IdxFiles.FashionMnistClasses)), every: 6);
        if (parse.GetValue(Cifar) is { Length: > 0 } cifar)
            return ImageRows.Split(ImageRows.FromDataset(CifarFiles.Load(cifar, parse.GetValue(Cifar100) ? CifarVariant.Cifar100
                : CifarVariant.Cifar10)), every: 6);
        long maxPixels = parse.GetValue(MaxPixels);
        string root = parse.GetValue(Data) ?? ImageRows.EmbeddedData()
            ?? throw new DirectoryNotFoundException("The embedded sample data (Samples/data/fashion-mnist-mini) was not found; run from the " +
                "repository or pass --data.");
        if (Directory.Exists(Path.Combine(root, "train")) && Directory.Exists(Path.Combine(root, "test")))
            return (ImageRows.FromFolder(Path.Combine(root, "train"), maxPixels), ImageRows.FromFolder(Path.Combine(root, "test"), maxPixels));
        return ImageRows.Split(ImageRows.FromFolder(root, maxPixels), every: 5);
    }
}
