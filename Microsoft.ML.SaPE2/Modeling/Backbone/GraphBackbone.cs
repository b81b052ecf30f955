using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.Backbone;

/// <summary>
/// Runs a <see cref="CnnGraph"/> — a pretrained CNN read from ONNX — as a TorchSharp module, operator by operator in the
/// graph's order, for any batch and any image size its strides allow, up to the value the graph is cut at. Each
/// convolution and batch normalisation is a child module named after its ONNX node (so the weights keep the ONNX names);
/// a constant operand (a mean image) is a buffer. Batch normalisation always uses its stored statistics: fine-tuned with
/// the small batches this library trains with, batch statistics would be noise (the usual practice when fine-tuning a
/// CNN on little data).
/// </summary>
public sealed class GraphBackbone : nn.Module<Tensor, Tensor>
{
    private readonly CnnGraph graph;
    private readonly Dictionary<string, nn.Module<Tensor, Tensor>> operators = new();   // by node index's key
    private readonly Dictionary<string, string> constants = new();                       // weight name → buffer name
    private readonly Dictionary<string, int> lastReader = new();                         // value → index of the last node reading it

    /// <summary>Builds the network of <paramref name="graph"/> with zero weights; load them with <see cref="LoadWeights"/> or a state dict.</summary>
    public GraphBackbone(CnnGraph graph) : base(nameof(GraphBackbone))
    {
        this.graph = graph;
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            if (!CnnGraph.SupportedOps.Contains(node.Op))
                throw new NotSupportedException($"{graph.Source}: operator '{node.Name}' is {node.Op}; a backbone may use only " +
                    $"{string.Join(", ", CnnGraph.SupportedOps)}.");
            string key = KeyOf(i);
            switch (node.Op)
            {
                case "Conv":
                    operators[key] = new GraphConvolution(node, graph.Weights[node.Inputs[1]], node.Inputs.Count > 2 && node.Inputs[2] != "");
                    break;
                case "BatchNormalization":
                    operators[key] = new GraphBatchNorm(graph.Weights[node.Inputs[1]][0], node.FloatOr("epsilon", 1e-5));
                    break;
                default:
                    foreach (var input in node.Inputs.Where(graph.Weights.ContainsKey))
                        if (!constants.ContainsKey(input))
                        {
                            constants[input] = $"{key}_constant{constants.Count}";
                            register_buffer(constants[input], zeros(graph.Weights[input]));
                        }
                    break;
            }
            if (operators.TryGetValue(key, out var module)) register_module(key, module);
            foreach (var input in node.Inputs) lastReader[input] = i;
        }
    }

    /// <summary>The graph this module runs.</summary>
    public CnnGraph Graph => graph;

    /// <summary>
    /// Copies pretrained values into the module: <paramref name="weights"/> maps the ONNX initializer names of
    /// <see cref="CnnGraph.Weights"/> to tensors of those shapes; a missing or misshapen one throws naming it.
    /// </summary>
    public void LoadWeights(IReadOnlyDictionary<string, Tensor> weights)
    {
        using var noGrad = no_grad();
        Tensor Get(string name)
        {
            if (!weights.TryGetValue(name, out var value))
                throw new InvalidDataException($"{graph.Source}: the weight '{name}' is missing.");
            if (!value.shape.SequenceEqual(graph.Weights[name]))
                throw new InvalidDataException($"{graph.Source}: the weight '{name}' has shape [{string.Join(", ", value.shape)}], " +
                    $"not [{string.Join(", ", graph.Weights[name])}].");
            return value;
        }
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            if (operators.TryGetValue(KeyOf(i), out var module))
                switch (module)
                {
                    case GraphConvolution conv:
                        conv.Load(Get(node.Inputs[1]), node.Inputs.Count > 2 && node.Inputs[2] != "" ? Get(node.Inputs[2]) : null);
                        break;
                    case GraphBatchNorm norm: norm.Load(Get(node.Inputs[1]), Get(node.Inputs[2]), Get(node.Inputs[3]), Get(node.Inputs[4])); break;
                }
        }
        foreach (var (weight, buffer) in constants)
            get_buffer(buffer)!.copy_(Get(weight));
    }

    /// <summary>The feature grid of <paramref name="height"/> × <paramref name="width"/> pixels.</summary>
    public PatchGrid GridFor(long height, long width) => graph.GridFor(height, width);

    /// <summary>(B, C, H, W) images, prepared as the network expects, to its (B, OutputChannels, h, w) feature map.</summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var values = new Dictionary<string, Tensor> { [graph.Input] = images };
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            if (i > 0) ReleaseValuesLastUsedBy(i - 1, values);
            var node = graph.Nodes[i];
            Tensor In(int k) => graph.Weights.ContainsKey(node.Inputs[k]) ? Constant(node.Inputs[k], values[node.Inputs[0]]) : values[node.Inputs[k]];
            if (operators.TryGetValue(KeyOf(i), out var module))
            {
                values[node.Outputs[0]] = module.forward(In(0));
                continue;
            }
            switch (node.Op)
            {
                case "Relu": values[node.Outputs[0]] = nn.functional.relu(In(0)); break;
                case "Add": values[node.Outputs[0]] = In(0) + In(1); break;
                case "Sub": values[node.Outputs[0]] = In(0) - In(1); break;
                case "MaxPool": values[node.Outputs[0]] = MaxPool(node, In(0)); break;
                case "AveragePool": values[node.Outputs[0]] = AveragePool(node, In(0)); break;
                case "GlobalAveragePool": values[node.Outputs[0]] = In(0).mean(new long[] { 2, 3 }, keepdim: true); break;
                case "Concat":
                    values[node.Outputs[0]] = cat(Enumerable.Range(0, node.Inputs.Count).Select(In).ToArray(), node.IntsOr("axis", 0)[0]);
                    break;
                case "Split":
                    long[] sizes = node.IntsOr("split").Length > 0 ? node.IntsOr("split")
                        : Enumerable.Repeat(In(0).shape[1] / node.Outputs.Count, node.Outputs.Count).ToArray();
                    var parts = In(0).split(sizes, node.IntsOr("axis", 0)[0]);
                    for (int o = 0; o < node.Outputs.Count; o++) values[node.Outputs[o]] = parts[o];
                    break;
            }
            if (node.Outputs.Contains(graph.Output)) break;
        }
        return values[graph.Output].MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Frees the values whose last reader was node <paramref name="index"/>: a ResNet's forward would otherwise hold every feature
    /// map of the batch at once (gigabytes at 224 px). Autograd keeps what a backward needs through references of its own.
    /// </summary>
    private void ReleaseValuesLastUsedBy(int index, Dictionary<string, Tensor> values)
    {
        foreach (var value in lastReader.Where(p => p.Value == index).Select(p => p.Key))
            if (value != graph.Input && value != graph.Output && values.Remove(value, out var tensor)) tensor.Dispose();
    }

    /// <summary>
    /// A constant operand for <paramref name="like"/>: as stored, or — a per-pixel image such as a mean image made for the
    /// network's native side — resized bilinearly to the input's size, so any image size runs.
    /// </summary>
    private Tensor Constant(string weight, Tensor like)
    {
        var value = get_buffer(constants[weight])!;
        if (value.dim() != 4 || (value.shape[2] == 1 && value.shape[3] == 1) || (value.shape[2] == like.shape[2] && value.shape[3] == like.shape[3]))
            return value;
        return nn.functional.interpolate(value, new long[] { like.shape[2], like.shape[3] }, mode: InterpolationMode.Bilinear, align_corners: false);
    }

    private static Tensor MaxPool(CnnNode node, Tensor x)
    {
        long[] pads = node.IntsOr("pads", 0, 0, 0, 0);
        var padded = nn.functional.pad(x, new[] { pads[1], pads[3], pads[0], pads[2] }, value: double.NegativeInfinity);
        return nn.functional.max_pool2d(padded, node.IntsOr("kernel_shape"), node.IntsOr("strides", 1, 1),
            dilation: node.IntsOr("dilations", 1, 1), ceil_mode: node.IntsOr("ceil_mode", 0)[0] != 0);
    }

    private static Tensor AveragePool(CnnNode node, Tensor x)
    {
        long[] pads = node.IntsOr("pads", 0, 0, 0, 0);
        if (pads[0] != pads[2] || pads[1] != pads[3])
            throw new NotSupportedException($"AveragePool '{node.Name}' pads its sides unequally ({string.Join(", ", pads)}).");
        return nn.functional.avg_pool2d(x, node.IntsOr("kernel_shape"), node.IntsOr("strides", 1, 1), new[] { pads[0], pads[1] },
            ceil_mode: node.IntsOr("ceil_mode", 0)[0] != 0, count_include_pad: node.IntsOr("count_include_pad", 0)[0] != 0);
    }

    /// <summary>The state-dict prefix of node <paramref name="index"/>'s module (its weights are <c>{prefix}.weight</c> and so on).</summary>
    internal static string KeyOf(int index) => $"op{index}";

    /// <summary>The value the constant operand <paramref name="weight"/> takes for an input of <paramref name="height"/> × <paramref name="width"/>
    /// (for exporters); the caller owns it.</summary>
    internal Tensor ConstantFor(string weight, long height, long width)
    {
        using var like = zeros(1, 1, height, width);
        using var noGrad = no_grad();
        return Constant(weight, like).clone();
    }
}

/// <summary>An ONNX Conv: its pads may differ before and after (CNTK's stride-2 convolutions pad 1 before and 0 after).</summary>
internal sealed class GraphConvolution : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly long[] strides, pads, dilations;
    private readonly long groups;

    public GraphConvolution(CnnNode node, long[] weightShape, bool hasBias) : base(nameof(GraphConvolution))
    {
        weight = nn.Parameter(zeros(weightShape));
        if (hasBias) bias = nn.Parameter(zeros(weightShape[0]));
        strides = node.IntsOr("strides", 1, 1);
        pads = node.IntsOr("pads", 0, 0, 0, 0);
        dilations = node.IntsOr("dilations", 1, 1);
        groups = node.IntsOr("group", 1)[0];
        RegisterComponents();
    }

    public void Load(Tensor w, Tensor? b)
    {
        weight.copy_(w);
        if (bias is not null && b is not null) bias.copy_(b);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        bool symmetric = pads[0] == pads[2] && pads[1] == pads[3];
        var input = symmetric ? x : nn.functional.pad(x, new[] { pads[1], pads[3], pads[0], pads[2] });   // (left, right, top, bottom)
        var padding = symmetric ? new[] { pads[0], pads[1] } : new long[] { 0, 0 };
        return nn.functional.conv2d(input, weight, bias, strides, padding, dilations, groups).MoveToOuterDisposeScope();
    }
}

/// <summary>An ONNX BatchNormalization in inference form: <c>(x − mean) / √(var + ε) · scale + B</c> per channel.</summary>
internal sealed class GraphBatchNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight, bias;
    private readonly Tensor running_mean, running_var;
    private readonly double epsilon;

    public GraphBatchNorm(long channels, double epsilon) : base(nameof(GraphBatchNorm))
    {
        weight = nn.Parameter(ones(channels));
        bias = nn.Parameter(zeros(channels));
        running_mean = zeros(channels);
        running_var = ones(channels);
        this.epsilon = epsilon;
        RegisterComponents();
    }

    public void Load(Tensor scale, Tensor shift, Tensor mean, Tensor variance)
    {
        weight.copy_(scale);
        bias.copy_(shift);
        running_mean.copy_(mean);
        running_var.copy_(variance);
    }

    public override Tensor forward(Tensor x) =>
        nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training: false, eps: epsilon);
}
