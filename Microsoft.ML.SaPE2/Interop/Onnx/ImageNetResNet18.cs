using Microsoft.ML.SaPE2.Modeling.Backbone;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Interop.Onnx;

/// <summary>
/// The ImageNet ResNet18 that ML.NET ships in <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c> (the network of ML.NET's
/// <c>DnnFeaturizeImage</c>), read from the package's two ONNX files — <c>ResNetPrepOnnx/ResNetPreprocess.onnx</c> (RGB → BGR,
/// minus a mean image) and <c>ResNet18Onnx/ResNet18.onnx</c> — which the package copies to an application's
/// <c>DnnImageModels</c> folder. The network takes RGB pixel values in [0, 255]. It is CNTK's ResNet18, not torchvision's:
/// its first convolution and max-pool pad asymmetrically and its last stage has three blocks.
/// </summary>
internal static class ImageNetResNet18
{
    /// <summary>The NuGet package that carries the files.</summary>
    public const string Package = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
    /// <summary>The side the network was trained at.</summary>
    public const int NativeSide = 224;
    /// <summary>Token strides the network can be cut at: after its third stage (14×14 at 224 px, 256 channels) or fourth (7×7, 512).</summary>
    public static readonly int[] Strides = { 16, 32 };

    /// <summary>The folder ML.NET's package copies the files to: <c>DnnImageModels</c> beside the application.</summary>
    public static string DefaultFolder => Path.Combine(AppContext.BaseDirectory, "DnnImageModels");

    /// <summary>The two files under <paramref name="folder"/> (null: <see cref="DefaultFolder"/>).</summary>
    public static (string Preprocess, string Network) Files(string? folder)
    {
        folder ??= DefaultFolder;
        return (Path.Combine(folder, "ResNetPrepOnnx", "ResNetPreprocess.onnx"), Path.Combine(folder, "ResNet18Onnx", "ResNet18.onnx"));
    }

    /// <summary>True when both files are under <paramref name="folder"/>.</summary>
    public static bool IsAvailable(string? folder)
    {
        var (preprocess, network) = Files(folder);
        return File.Exists(preprocess) && File.Exists(network);
    }

    /// <summary>
    /// The network cut after the stage of token stride <paramref name="stride"/>, with its weights (the caller owns them);
    /// a missing file throws naming it and the package to add.
    /// </summary>
    public static (CnnGraph Graph, Dictionary<string, Tensor> Weights) Load(string? folder, int stride)
    {
        var (graph, files) = Read(folder, stride);
        return (graph, OnnxCnnReader.WeightsOf(graph, files));
    }

    /// <summary>The graph of <see cref="Load"/> alone, without making its weights' tensors.</summary>
    public static CnnGraph Graph(string? folder, int stride) => Read(folder, stride).Graph;

    /// <summary>The cut graph and the two files it was read from (their weights not yet made into tensors).</summary>
    internal static (CnnGraph Graph, OnnxCnnReader.OnnxFile[] Files) Read(string? folder, int stride)
    {
        if (!Strides.Contains(stride))
            throw new ArgumentOutOfRangeException("PatchSize", $"The ResNet18 backbone is cut after its third or last stage: PatchSize " +
                $"(its token stride) must be 16 or 32; got {stride}.");
        var (preprocessPath, networkPath) = Files(folder);
        foreach (var path in new[] { preprocessPath, networkPath })
            if (!File.Exists(path))
                throw new FileNotFoundException($"The ImageNet ResNet18 backbone needs '{path}'. Add the NuGet package {Package} to the " +
                    $"application (it copies the file to its DnnImageModels folder), or set BackboneFolder to the folder that holds " +
                    $"ResNetPrepOnnx/ and ResNet18Onnx/.", path);
        var preprocess = OnnxCnnReader.Read(preprocessPath);
        var network = OnnxCnnReader.Read(networkPath);
        string source = $"ImageNet ResNet18 ({Package}: {Path.GetFileName(preprocessPath)} + {Path.GetFileName(networkPath)})";
        string cut = CutAt(OnnxCnnReader.ComposeGraph(source, NativeSide, network.Outputs[0], preprocess, network), NativeSide / stride);
        return (OnnxCnnReader.ComposeGraph(source + $", cut at {cut} (stride {stride})", NativeSide, cut, preprocess, network),
            new[] { preprocess, network });
    }

    /// <summary>The last ReLU output (a residual block's end) whose grid at the native side is <paramref name="side"/> a side.</summary>
    private static string CutAt(CnnGraph graph, int side)
    {
        var sizes = graph.ValueSizes(NativeSide, NativeSide);
        return graph.Nodes.Where(n => n.Op == "Relu" && sizes[n.Outputs[0]] == (side, side)).Select(n => n.Outputs[0]).LastOrDefault()
            ?? throw new InvalidDataException($"{graph.Source} has no block ending on a {side}×{side} grid.");
    }
}

/// <summary>
/// The pretrained backbone's files as the trainer meets them: whether they are there, the graph of a cut (read once per file
/// and cut, then shared), and the weights for one fit.
/// </summary>
internal static class BackboneFiles
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Folder, int Stride, DateTime Written), CnnGraph> Graphs =
        new();

    /// <summary>The folder <paramref name="folder"/> names, or the application's DnnImageModels folder.</summary>
    public static string Folder(string? folder) => folder ?? ImageNetResNet18.DefaultFolder;

    /// <summary>True when the ImageNet ResNet18's files are in <paramref name="folder"/>.</summary>
    public static bool Available(string? folder) => ImageNetResNet18.IsAvailable(folder);

    /// <summary>The ResNet18 graph cut at <paramref name="stride"/> (its weights are read again at each fit).</summary>
    public static CnnGraph ImageNetResNet18Graph(string? folder, int stride)
    {
        var (_, network) = ImageNetResNet18.Files(folder);
        var written = File.Exists(network) ? File.GetLastWriteTimeUtc(network) : default;
        return Graphs.GetOrAdd((Folder(folder), stride, written), _ => ImageNetResNet18.Graph(folder, stride));
    }

    /// <summary>The pretrained weights of <paramref name="graph"/> for one fit (null without a backbone); dispose after the fit.</summary>
    public static LoadedWeights? Weights(CnnGraph? graph, string? folder)
    {
        if (graph is null) return null;
        var (read, files) = ImageNetResNet18.Read(folder, graph.Stride);
        if (!read.Equals(graph))
            throw new InvalidDataException($"The backbone files in '{Folder(folder)}' changed while the trainer was set up; train again.");
        return new LoadedWeights(OnnxCnnReader.WeightsOf(read, files));
    }

    /// <summary>Weights by ONNX name, freed together.</summary>
    public sealed class LoadedWeights(Dictionary<string, Tensor> tensors) : IDisposable
    {
        /// <summary>The tensors.</summary>
        public IReadOnlyDictionary<string, Tensor> Tensors => tensors;

        /// <inheritdoc />
        public void Dispose()
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
