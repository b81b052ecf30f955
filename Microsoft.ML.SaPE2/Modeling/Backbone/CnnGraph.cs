namespace Microsoft.ML.SaPE2.Modeling.Backbone;

/// <summary>
/// One operator of a <see cref="CnnGraph"/>, as ONNX writes it: its type, the values it reads and writes, and its integer
/// and float attributes. Weights are named among <see cref="Inputs"/> and listed with their shapes in
/// <see cref="CnnGraph.Weights"/>.
/// </summary>
public sealed record CnnNode(string Op, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs,
    IReadOnlyDictionary<string, long[]> Ints, IReadOnlyDictionary<string, double> Floats)
{
    /// <summary>The integer list attribute <paramref name="name"/>, or <paramref name="fallback"/> when absent.</summary>
    public long[] IntsOr(string name, params long[] fallback) => Ints.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>The float attribute <paramref name="name"/>, or <paramref name="fallback"/> when absent.</summary>
    public double FloatOr(string name, double fallback) => Floats.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>Structural equality (records compare collections by reference).</summary>
    public bool Equals(CnnNode? other) => other is not null && Op == other.Op && Name == other.Name &&
        Inputs.SequenceEqual(other.Inputs) && Outputs.SequenceEqual(other.Outputs) &&
        Ints.Count == other.Ints.Count && Ints.All(p => other.Ints.TryGetValue(p.Key, out var v) && v.SequenceEqual(p.Value)) &&
        Floats.Count == other.Floats.Count && Floats.All(p => other.Floats.TryGetValue(p.Key, out var v) && v.Equals(p.Value));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Op, Name, Outputs.Count > 0 ? Outputs[0] : "");
}

/// <summary>
/// A pretrained convolutional network as data: the operators of an ONNX graph in execution order, from the image input to
/// the value <see cref="Output"/> where it is cut, and the shape of every weight. <see cref="GraphBackbone"/> runs it; the
/// weights themselves travel separately (from the ONNX file at the start, in the model's weights afterwards). It is part of
/// the model's configuration, so a saved model rebuilds the network without the file it came from.
/// </summary>
public sealed record CnnGraph
{
    /// <summary>What the network is and where it came from, e.g. the package and file, for messages and <c>sape2 info</c>.</summary>
    public required string Source { get; init; }
    /// <summary>SHA-256 (hex) of the file(s) the graph and its initial weights were read from.</summary>
    public required string Sha256 { get; init; }
    /// <summary>The graph's image input: (B, <see cref="InputChannels"/>, H, W).</summary>
    public required string Input { get; init; }
    /// <summary>The value the network is cut at: the feature map that becomes the token grid.</summary>
    public required string Output { get; init; }
    /// <summary>Channels of the input image.</summary>
    public int InputChannels { get; init; } = 3;
    /// <summary>Channels of <see cref="Output"/>.</summary>
    public required int OutputChannels { get; init; }
    /// <summary>The side the network was trained at (224 for ImageNet networks): the default input size.</summary>
    public required int NativeSide { get; init; }
    /// <summary>The operators from the input to <see cref="Output"/>, in an order where every input is computed before use.</summary>
    public required IReadOnlyList<CnnNode> Nodes { get; init; }
    /// <summary>Every weight an operator reads, with its shape.</summary>
    public required IReadOnlyDictionary<string, long[]> Weights { get; init; }

    /// <summary>Structural equality, so that a resumed run recognises the configuration it saved.</summary>
    public bool Equals(CnnGraph? other) => other is not null && Source == other.Source && Sha256 == other.Sha256 &&
        Input == other.Input && Output == other.Output && InputChannels == other.InputChannels &&
        OutputChannels == other.OutputChannels && NativeSide == other.NativeSide && Nodes.SequenceEqual(other.Nodes) &&
        Weights.Count == other.Weights.Count && Weights.All(p => other.Weights.TryGetValue(p.Key, out var s) && s.SequenceEqual(p.Value));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Sha256, Output, Nodes.Count);

    /// <summary>The operator types <see cref="GraphBackbone"/> runs.</summary>
    public static readonly IReadOnlySet<string> SupportedOps = new HashSet<string>
    {
        "Conv", "BatchNormalization", "Relu", "Add", "Sub", "MaxPool", "AveragePool", "GlobalAveragePool", "Split", "Concat",
    };

    /// <summary>
    /// The output grid of an input of <paramref name="height"/> × <paramref name="width"/> pixels, from the strides, kernels
    /// and pads of the convolutions and pools (ONNX's floor arithmetic); throws when a side shrinks to nothing.
    /// </summary>
    public PatchGrid GridFor(long height, long width)
    {
        var (gh, gw) = ValueSizes(height, width)[Output];
        return new PatchGrid((int)gh, (int)gw);
    }

    /// <summary>The spatial size of every value of the graph for an input of <paramref name="height"/> × <paramref name="width"/>.</summary>
    public IReadOnlyDictionary<string, (long Height, long Width)> ValueSizes(long height, long width)
    {
        var sizes = new Dictionary<string, (long Height, long Width)> { [Input] = (height, width) };
        foreach (var node in Nodes)
        {
            var (h, w) = sizes[node.Inputs[0]];
            if (node.Op is "Conv" or "MaxPool" or "AveragePool")
            {
                long[] kernel = node.Op == "Conv" ? Weights[node.Inputs[1]][2..] : node.IntsOr("kernel_shape");
                long[] strides = node.IntsOr("strides", 1, 1), pads = node.IntsOr("pads", 0, 0, 0, 0), dilations = node.IntsOr("dilations", 1, 1);
                h = FloorDiv(h + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1, strides[0]) + 1;
                w = FloorDiv(w + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1, strides[1]) + 1;
                if (h <= 0 || w <= 0)
                    throw new ArgumentException($"An input of {height}×{width} pixels is too small for {Source}: it shrinks to nothing at " +
                        $"operator '{node.Name}' ({node.Op}). Use larger images (the network was trained at {NativeSide}×{NativeSide}).");
            }
            else if (node.Op == "GlobalAveragePool") (h, w) = (1, 1);
            foreach (var output in node.Outputs) sizes[output] = (h, w);
        }
        return sizes;
    }

    private static long FloorDiv(long a, long b) => (long)Math.Floor((double)a / b);

    /// <summary>Pixels per token along a side at <see cref="NativeSide"/> (16 or 32 for a ResNet cut after its third or fourth stage).</summary>
    public int Stride => NativeSide / Math.Max(1, GridFor(NativeSide, NativeSide).Height);
}
