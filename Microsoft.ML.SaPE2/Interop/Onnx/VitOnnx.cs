using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Interop.Onnx;

/// <summary>
/// A trained classifier's scoring pass as ONNX nodes, step for step as <see cref="VisionTransformer"/> and
/// <see cref="ImageClassifier"/> compute it in evaluation mode (dropout and drop-path are identities): raw pixels →
/// normalisation → tokens → blocks → norm → pooling → head → softmax. The image size is the model's, so every
/// grid-dependent table is a constant; only the batch dimension is dynamic.
/// </summary>
internal sealed class VitOnnx
{
    private readonly OnnxGraph g;
    private readonly ImageClassifier classifier;
    private readonly VitConfig config;
    private readonly IReadOnlyDictionary<string, Tensor> weights;
    private readonly PatchGrid grid;

    private VitOnnx(OnnxGraph graph, ImageClassifier classifier, IReadOnlyDictionary<string, Tensor> weights)
    {
        g = graph;
        this.classifier = classifier;
        config = classifier.Config;
        this.weights = weights;
        grid = new PatchGrid(config.GridHeight, config.GridWidth);
    }

    /// <summary>
    /// Emits the pass from <paramref name="pixels"/> (float 0–255, channel-major: (B, C·H·W) or (B, C, H, W)) to the class
    /// probabilities (B, classes); returns the probabilities' name.
    /// </summary>
    public static string Probabilities(OnnxGraph graph, ImageClassifier classifier, string pixels)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var weights = classifier.Model.state_dict();
        return new VitOnnx(graph, classifier, weights).Forward(pixels);
    }

    /// <summary>
    /// The weighted average of <paramref name="members"/>' probabilities (an ensemble; <paramref name="weights"/> sum to 1), each member
    /// normalising the pixels its own way; one member is <see cref="Probabilities"/> itself.
    /// </summary>
    public static string AveragedProbabilities(OnnxGraph graph, IReadOnlyList<ImageClassifier> members, IReadOnlyList<float> weights,
        string pixels)
    {
        if (members.Count == 1) return Probabilities(graph, members[0], pixels);
        string? sum = null;
        for (int i = 0; i < members.Count; i++)
        {
            var weighted = graph.Mul(Probabilities(graph, members[i], pixels), graph.Scalar(weights[i]));
            sum = sum is null ? weighted : graph.Add(sum, weighted);
        }
        return sum!;
    }

    private string Forward(string pixels)
    {
        var tokens = Tokens(Normalized(pixels));                                   // (B, T, C)
        for (int i = 0; i < config.Depth; i++)
            tokens = Block(tokens, i);
        var features = g.LayerNorm(tokens, weights, "norm", 1e-6f);
        var logits = g.Linear(Pooled(features), weights, "head");                 // (B, classes)
        return g.Softmax(logits, 1);
    }

    /// <summary>Preprocessing's <c>(x/255 − mean)/std</c>, (B, C, H, W).</summary>
    private string Normalized(string pixels)
    {
        var format = classifier.Format;
        var images = g.Reshape(pixels, -1, format.Channels, format.Height, format.Width);
        long[] perChannel = { 1, format.Channels, 1, 1 };
        var unit = g.Div(images, g.Scalar(255f));
        return g.Div(g.Sub(unit, g.Floats(perChannel, classifier.Normalization.Mean)), g.Floats(perChannel, classifier.Normalization.Std));
    }

    /// <summary>The tokens entering the first block, (B, P + N, C): tokenizer, CLS token, token position encoding.</summary>
    private string Tokens(string images)
    {
        var map = config.Tokenizer switch                                                                         // (B, C, H', W')
        {
            TokenizerKind.Patch => PatchProjection(images),
            TokenizerKind.PretrainedBackbone => BackboneProjection(images),
            _ => ConvolutionalStem(images),
        };
        var tokens = g.Transpose(g.Reshape(map, -1, config.EmbedDim, grid.Count), 0, 2, 1);                          // (B, N, C)
        if (config.PrefixTokens > 0)
        {
            var batch = g.Narrow(g.Op("Shape", tokens), 0, 0, 1);
            var classTokens = g.Op("Expand", g.Weight("classToken", weights["classToken"]), g.Concat(0, batch, g.Int64s(1, config.EmbedDim)));
            tokens = g.Concat(1, classTokens, tokens);                                                              // (B, 1 + N, C)
        }
        if (Modeling.PositionEncodings.PositionEncodingFactory.UsesAbsoluteEmbedding(config) ||
            config.PositionEncoding == PositionEncodingKind.Sincos2D)
        {
            using var table = classifier.Model.TokenPositionTable();                                                // (1, P + N, C)
            tokens = g.Add(tokens, g.Weight("tokenPosition", table));
        }
        return tokens;
    }

    private string PatchProjection(string images) => g.Op("Conv",
        new[] { images, g.Weight("patch.weight", weights["patchEmbedding.projection.weight"]),
            g.Weight("patch.bias", weights["patchEmbedding.projection.bias"]) },
        OnnxAttribute.Ints("kernel_shape", config.PatchSize, config.PatchSize), OnnxAttribute.Ints("strides", config.PatchSize, config.PatchSize));

    /// <summary>CCT's stages: 3×3 convolution → BatchNorm (running statistics, torch's ε = 1e-5) → ReLU → 3×3/2 max-pool.</summary>
    private string ConvolutionalStem(string images)
    {
        var x = images;
        for (int s = 0; s < ConvolutionalTokenizer.StagesFor(config.PatchSize); s++)
        {
            string conv = $"patchEmbedding.stem.conv{s}", norm = $"patchEmbedding.stem.norm{s}";
            x = g.Op("Conv", new[] { x, g.Weight(conv, weights[conv + ".weight"]) },
                OnnxAttribute.Ints("kernel_shape", 3, 3), OnnxAttribute.Ints("pads", 1, 1, 1, 1));
            x = g.Op("BatchNormalization", new[] { x, g.Weight(norm + ".weight", weights[norm + ".weight"]),
                g.Weight(norm + ".bias", weights[norm + ".bias"]), g.Weight(norm + ".mean", weights[norm + ".running_mean"]),
                g.Weight(norm + ".var", weights[norm + ".running_var"]) }, OnnxAttribute.Float("epsilon", 1e-5f));
            x = g.Op("MaxPool", new[] { g.Op("Relu", x) }, OnnxAttribute.Ints("kernel_shape", 3, 3), OnnxAttribute.Ints("strides", 2, 2),
                OnnxAttribute.Ints("pads", 1, 1, 1, 1));
        }
        return x;
    }

    /// <summary>
    /// The pretrained backbone's ONNX nodes as <see cref="Modeling.Backbone.GraphBackbone"/> runs them (batch normalisation with its stored
    /// statistics; a constant image operand at the model's size), then the 1×1 projection to the token width.
    /// </summary>
    private string BackboneProjection(string images)
    {
        var backbone = classifier.Model.Backbone!;
        var graph = backbone.Graph;
        var values = new Dictionary<string, string> { [graph.Input] = images };
        const string prefix = "patchEmbedding.backbone.";
        string Input(string value)
        {
            if (values.TryGetValue(value, out var name)) return name;
            using var constant = backbone.ConstantFor(value, config.ImageHeight, config.ImageWidth);
            return values[value] = g.Weight(prefix + value, constant);
        }
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            string key = prefix + Modeling.Backbone.GraphBackbone.KeyOf(i);
            var ints = node.Ints.Select(p => ScalarIntAttributes.Contains(p.Key) ? OnnxAttribute.Int(p.Key, p.Value[0])
                : OnnxAttribute.Ints(p.Key, p.Value)).ToList();
            string[] outputs = node.Op switch
            {
                "Conv" => new[] { g.Op("Conv", new[] { Input(node.Inputs[0]), g.Weight(key + ".weight", weights[key + ".weight"]) }
                    .Concat(weights.TryGetValue(key + ".bias", out var bias) ? new[] { g.Weight(key + ".bias", bias) } : Array.Empty<string>())
                    .ToArray(), ints.ToArray()) },
                "BatchNormalization" => new[] { g.Op("BatchNormalization", new[] { Input(node.Inputs[0]),
                    g.Weight(key + ".weight", weights[key + ".weight"]), g.Weight(key + ".bias", weights[key + ".bias"]),
                    g.Weight(key + ".mean", weights[key + ".running_mean"]), g.Weight(key + ".var", weights[key + ".running_var"]) },
                    OnnxAttribute.Float("epsilon", (float)node.FloatOr("epsilon", 1e-5))) },
                "Split" => SplitOutputs(node, Input(node.Inputs[0])),
                "Concat" => new[] { g.Concat(node.IntsOr("axis", 0)[0], node.Inputs.Select(Input).ToArray()) },
                _ => new[] { g.Op(node.Op, node.Inputs.Select(Input).ToArray(), ints.ToArray()) },   // Relu, Add, Sub, pools: as read
            };
            for (int o = 0; o < node.Outputs.Count; o++) values[node.Outputs[o]] = outputs[o];
            if (node.Outputs.Contains(graph.Output)) break;
        }
        return g.Op("Conv", new[] { values[graph.Output], g.Weight("projection.weight", weights["patchEmbedding.projection.weight"]),
            g.Weight("projection.bias", weights["patchEmbedding.projection.bias"]) });
    }

    /// <summary>The integer attributes of the backbone's operators that ONNX types as one INT rather than INTS (the reader keeps both as
    /// lists).</summary>
    private static readonly HashSet<string> ScalarIntAttributes =
        new() { "group", "storage_order", "count_include_pad", "ceil_mode", "axis", "keepdims" };

    /// <summary>An ONNX Split as slices (one output each), so the graph needs no multi-output node.</summary>
    private string[] SplitOutputs(Modeling.Backbone.CnnNode node, string input)
    {
        long axis = node.IntsOr("axis", 0)[0], start = 0;
        var sizes = node.IntsOr("split");
        var outputs = new string[node.Outputs.Count];
        for (int o = 0; o < outputs.Length; o++)
        {
            long size = sizes.Length > o ? sizes[o] : classifier.Model.Backbone!.Graph.InputChannels / outputs.Length;
            outputs[o] = g.Narrow(input, axis, start, size);
            start += size;
        }
        return outputs;
    }

    /// <summary>The pre-norm block: <c>x + attn(norm1(x))</c>, then <c>x + mlp(norm2(x))</c>.</summary>
    private string Block(string x, int index)
    {
        string name = $"blocks.{index}";
        x = g.Add(x, Attention(g.LayerNorm(x, weights, name + ".attentionNorm", 1e-6f), index));
        var hidden = g.Gelu(g.Linear(g.LayerNorm(x, weights, name + ".mlpNorm", 1e-6f), weights, name + ".mlp.expand"));
        return g.Add(x, g.Linear(hidden, weights, name + ".mlp.contract"));
    }

    /// <summary>Multi-head self-attention, (B, T, C) → (B, T, C), with the layer's position encoding in the logits.</summary>
    private string Attention(string x, int index)
    {
        string name = $"blocks.{index}.attention";
        long t = config.PrefixTokens + grid.Count, h = config.NumHeads, d = config.HeadDim;
        var heads = g.Transpose(g.Reshape(g.Linear(x, weights, name + ".qkv"), -1, t, 3, h, d), 2, 0, 3, 1, 4);   // (3, B, h, T, d)
        string q = g.Select(heads, 0, 0), k = g.Select(heads, 0, 1), v = g.Select(heads, 0, 2);
        var encoding = classifier.Model.Blocks[index].Attention.PositionEncoding;
        var logits = new AttentionOnnx(g, config, grid, weights, name + ".position").Logits(encoding, q, k);      // (B, h, T, T)
        var mixed = g.Reshape(g.Transpose(g.MatMul(g.Softmax(logits, -1), v), 0, 2, 1, 3), -1, t, config.EmbedDim);  // (B, T, C)
        return g.Linear(mixed, weights, name + ".projection");
    }

    /// <summary>(B, T, C) → (B, C): the CLS token, the score-weighted mean (sequence pooling) or the mean of the patches.</summary>
    private string Pooled(string features) => config.Pooling switch
    {
        PoolingKind.ClassToken => g.Select(features, 1, 0),
        PoolingKind.SequencePooling => g.Reshape(g.MatMul(g.Transpose(g.Softmax(g.Linear(features, weights, "sequencePooling.score"), 1), 0, 2, 1),
            features), -1, config.EmbedDim),
        _ => g.ReduceMean(features, keep: false, 1),
    };
}
