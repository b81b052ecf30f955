using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// What a training run will hold in memory, worked out from the configuration alone, before anything is allocated:
/// the weights with their gradients and AdamW moments, one batch's activations kept for the backward pass (token
/// features, attention maps and, for SaPE², its pairwise tensors), and the decoded training images. A run whose
/// estimate exceeds the device's free memory is refused up front with the figures, instead of dying in libtorch.
/// </summary>
/// <remarks>
/// Float counts per image and block (T tokens, C = EmbedDim, h heads, S = max grid side): about 16·T·C for the
/// norms, projections and MLP; 4·h·T² for attention logits, softmax and its gradient; SaPE² adds 16·h·T² for its
/// distances and their surrogate gradient (Sape2Bias.PairwiseDistance) and 24·h·S³ for gates, positions and
/// interpolation (Eq. 9–14). Benchmarks' <c>memory</c> command compares the estimate with measured peaks. The SaPE² terms
/// are the plain form's; the fused form that trains (Sape2Logits) keeps 2·h·T² of distances and the same S³ terms, so for
/// it the estimate errs high.
/// </remarks>
internal sealed record MemoryEstimate(long ParameterBytes, long ActivationBytes, long DataBytes)
{
    /// <summary>
    /// Allowance for libtorch, the .NET runtime, the loader's buffers and the allocator's slack: a process had about 145 MB
    /// resident before its fit, and the terms above ranged from 8% under to 50% over the measured growth; with this
    /// allowance the whole estimate was 1.08–2.09 times the measured peak, never below it (Docs/benchmarks.md, "Memory estimate").
    /// </summary>
    public const long RuntimeBytes = 400L << 20;

    /// <summary>Everything together.</summary>
    public long TotalBytes => ParameterBytes + ActivationBytes + DataBytes + RuntimeBytes;

    /// <summary>
    /// The estimate for training <paramref name="config"/> with batches of <paramref name="batchSize"/>, counting
    /// <paramref name="imagesToDecode"/> images not yet in memory.
    /// </summary>
    /// <remarks>
    /// A pretrained backbone counts its weights once (and the EMA copy's) when <paramref name="backboneTrained"/> is false —
    /// frozen, it has no gradients or moments — plus the feature maps cached for <paramref name="featureViews"/> views of every
    /// image; fine-tuned, it counts as trained weights and its feature maps as activations.
    /// </remarks>
    public static MemoryEstimate ForTraining(VitConfig config, int batchSize, long imagesToDecode, bool ema, bool backboneTrained = false,
        int featureViews = 1)
    {
        long parameters = ParameterCount(config);
        long frozen = config.Backbone is { } g && !backboneTrained ? BackboneWeightCount(g) : 0;
        long parameterBytes = (parameters - frozen) * sizeof(float) * (ema ? 5 : 4)   // weights, gradients, two AdamW moments (+ EMA copy)
            + frozen * sizeof(float) * (ema ? 2 : 1);
        long dataBytes = imagesToDecode * config.InChannels * (long)config.ImageHeight * config.ImageWidth;   // decoded bytes
        if (config.Backbone is { } backbone && !backboneTrained)
            dataBytes += imagesToDecode * featureViews * CachedFeatures.BytesPerView(backbone, config.ImageHeight, config.ImageWidth);
        return new MemoryEstimate(parameterBytes, ActivationFloats(config, backboneTrained) * batchSize * sizeof(float), dataBytes);
    }

    /// <summary>Values of a backbone's weights (its batch-norm statistics included).</summary>
    public static long BackboneWeightCount(Modeling.Backbone.CnnGraph graph) => graph.Weights.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b));

    /// <summary>Floats of every convolution's output in one image's pass through a backbone.</summary>
    private static long BackboneConvolutionOutputs(Modeling.Backbone.CnnGraph graph, int height, int width)
    {
        var sizes = graph.ValueSizes(height, width);
        return graph.Nodes.Where(n => n.Op == "Conv")
            .Sum(n => graph.Weights[n.Inputs[1]][0] * sizes[n.Outputs[0]].Height * sizes[n.Outputs[0]].Width);
    }

    /// <summary>Floats one image keeps for the backward pass.</summary>
    public static long ActivationFloats(VitConfig config, bool backboneTrained = false)
    {
        long t = (long)config.GridHeight * config.GridWidth + config.PrefixTokens, c = config.EmbedDim, h = config.NumHeads;
        long side = Math.Max(config.GridHeight, config.GridWidth);
        long perBlock = 16 * t * c + 4 * h * t * t;
        if (config.PositionEncoding == PositionEncodingKind.Sape2) perBlock += 16 * h * t * t + 24 * h * side * side * side;
        long pixels = (long)config.ImageHeight * config.ImageWidth;
        long stem = config.Backbone is { } backbone
            // trained: every convolution's output with its batch norm and ReLU, and their gradients
            ? (backboneTrained ? 6 * BackboneConvolutionOutputs(backbone, config.ImageHeight, config.ImageWidth) : 0) + 2 * t * c
            : config.Tokenizer == TokenizerKind.Convolutional
            ? 8 * pixels * Math.Max(1, c / 2)   // conv, BatchNorm, ReLU and pool outputs of every stage, and their gradients
            : 2 * pixels * config.InChannels + 2 * t * c;
        // The input batch: pixels, or with a frozen backbone the cached feature maps that replace them.
        long input = config.Backbone is { } frozen && !backboneTrained ? 2L * frozen.OutputChannels * t : 3 * pixels * config.InChannels;
        return input + stem + config.Depth * perBlock;
    }

    /// <summary>Learned values of <paramref name="config"/>, counted without building the model.</summary>
    public static long ParameterCount(VitConfig config)
    {
        long c = config.EmbedDim, hidden = (long)(c * config.MlpRatio), t = (long)config.GridHeight * config.GridWidth;
        long block = 4 * c + 3 * c * c + 3 * c + c * c + c + c * hidden + hidden + hidden * c + c;   // 2 norms, qkv, projection, MLP
        block += config.PositionEncoding switch
        {
            PositionEncodingKind.Sape2 => 2L * config.HeadDim * config.EffectiveSape2TableSize,
            PositionEncodingKind.Cope => config.HeadDim * (t + 1),
            PositionEncodingKind.RopeMixed => c,
            _ => 0,
        };
        long stem = config.Backbone is { } backbone ? BackboneWeightCount(backbone) + (long)backbone.OutputChannels * c + c
            : config.Tokenizer == TokenizerKind.Convolutional
            ? ConvolutionalStemParameters(config.InChannels, config.EmbedDim, ConvolutionalTokenizer.StagesFor(config.PatchSize))
            : (long)config.InChannels * config.PatchSize * config.PatchSize * c + c;
        long absolute = PositionEncodingFactory.UsesAbsoluteEmbedding(config) ? (t + config.PrefixTokens) * c : 0;
        return stem + absolute + config.Depth * block + 2 * c + c * config.NumClasses + config.NumClasses + c;
    }

    /// <summary>The stem's 3×3 convolutions (half-width but the last, as <see cref="ConvolutionalTokenizer"/> builds them) and BatchNorms.</summary>
    private static long ConvolutionalStemParameters(int inChannels, int embedDim, int stages)
    {
        long total = 0, channels = inChannels;
        for (int s = 0; s < stages; s++)
        {
            long width = s == stages - 1 ? embedDim : Math.Max(1, embedDim / 2);
            total += 9 * channels * width + 2 * width;
            channels = width;
        }
        return total;
    }

    /// <summary>
    /// Bytes free for a run on <paramref name="device"/>: on a CPU the smaller of the system's available memory and what the
    /// process's memory limit still allows; on CUDA device 0 what <see cref="Native.CudaMemory"/> reports free; null
    /// (no check) for other CUDA devices or when the CUDA runtime cannot be asked.
    /// </summary>
    public static long? AvailableBytes(Device device)
    {
        if (device.type == DeviceType.CUDA) return device.index <= 0 ? Native.CudaMemory.Query()?.Free : null;
        if (device.type != DeviceType.CPU) return null;
        long limit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet;
        return SystemAvailableBytes() is { } system ? Math.Min(system, limit) : limit;
    }

    private static long? SystemAvailableBytes()
    {
        const string meminfo = "/proc/meminfo";
        if (!File.Exists(meminfo)) return null;
        foreach (var line in File.ReadLines(meminfo))
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                && long.TryParse(line["MemAvailable:".Length..].Trim().Split(' ')[0], out long kib))
                return kib * 1024;
        return null;
    }

    /// <summary>
    /// Throws <see cref="InsufficientMemoryException"/>, naming the options that drive the estimate, when training
    /// <paramref name="config"/> (<see cref="ForTraining"/>) needs more than <see cref="AvailableBytes"/> of
    /// <paramref name="device"/> (no check where that is unknown).
    /// </summary>
    public static void EnsureFits(VitConfig config, int batchSize, long imagesToDecode, bool ema, Device device, bool backboneTrained = false,
        int featureViews = 1)
    {
        var estimate = ForTraining(config, batchSize, imagesToDecode, ema, backboneTrained, featureViews);
        if (AvailableBytes(device) is not { } free || estimate.TotalBytes <= free) return;
        throw new InsufficientMemoryException($"Training would need about {Format(estimate.TotalBytes)} but {Format(free)} is free on the " +
            $"{device}: {Format(estimate.ActivationBytes)} of activations for a batch of {batchSize} (BatchSize) at " +
                $"{config.ImageHeight}×{config.ImageWidth} pixels (ImageSize) in {config.GridHeight}×{config.GridWidth} tokens " +
                $"(PatchSize {config.PatchSize}), {Format(estimate.ParameterBytes)} of weights and optimiser state ({config.EmbedDim}-wide, " +
                $"{config.Depth} blocks: Preset), {Format(estimate.DataBytes)} of decoded images. Lower BatchSize or ImageSize, raise " +
                $"PatchSize, or choose a smaller Preset.");
    }

    /// <summary>
    /// Bytes scoring <paramref name="config"/> (its image size as scored) in batches of <paramref name="batchSize"/> takes without
    /// gradients: the weights, and per image the input and one layer's largest tensors at a time (the attention logits and softmax,
    /// 2·h·T²; SaPE²'s bias and per-axis distances, 4·h·T², and its gates, positions and interpolation, 24·h·S³; the MLP, 8·T·C).
    /// </summary>
    public static long ForScoring(VitConfig config, int batchSize)
    {
        long t = (long)config.GridHeight * config.GridWidth + config.PrefixTokens, h = config.NumHeads;
        long side = Math.Max(config.GridHeight, config.GridWidth);
        long perImage = 3L * config.ImageHeight * config.ImageWidth * config.InChannels + 8 * t * config.EmbedDim + 2 * h * t * t
            + (config.Backbone is { } backbone ? BackboneConvolutionOutputs(backbone, config.ImageHeight, config.ImageWidth) : 0);
        if (config.PositionEncoding == PositionEncodingKind.Sape2) perImage += 4 * h * t * t + 24 * h * side * side * side;
        return ParameterCount(config) * sizeof(float) + batchSize * perImage * sizeof(float) + RuntimeBytes;
    }

    /// <summary>Bytes as MB or GB, for messages.</summary>
    public static string Format(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):N1} GB" : $"{bytes / (double)(1L << 20):N0} MB";
}
