using System.Security.Cryptography;
using Microsoft.ML.SaPE2.Modeling.Backbone;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Interop.Onnx;

/// <summary>
/// Reads a convolutional network from an ONNX file into a <see cref="CnnGraph"/> and its weights: the nodes (ModelProto →
/// GraphProto → NodeProto with their int, ints and float attributes) and float32 initializers (raw_data or float_data).
/// Anything the backbone cannot run — another operator, a non-float weight, external data — is refused with the file's
/// name and the node's.
/// </summary>
internal static class OnnxCnnReader
{
    /// <summary>An ONNX graph as read: nodes in file order, float weights, the input's name and shape and the output names.</summary>
    public sealed record OnnxFile(string Path, string Sha256, List<CnnNode> Nodes, Dictionary<string, (long[] Dims, float[] Values)> Weights,
        string Input, long[] InputDims, List<string> Outputs);

    /// <summary>Reads <paramref name="path"/>; throws <see cref="InvalidDataException"/> naming it when it is not an ONNX model.</summary>
    public static OnnxFile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"The ONNX file '{path}' does not exist.", path);
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return Parse(path, Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes);
        }
        catch (Exception e) when (e is InvalidDataException or OverflowException or ArgumentException)
        {
            throw new InvalidDataException($"'{path}' is not an ONNX model this library can read: {e.Message}", e);
        }
    }

    private static OnnxFile Parse(string path, string sha256, ReadOnlySpan<byte> bytes)
    {
        var model = new ProtoReader(bytes);
        ReadOnlySpan<byte> graphBytes = default;
        while (model.Next(out int field, out int wire))
            if (field == 7 && wire == 2) graphBytes = model.Bytes(); else model.Skip(wire);
        if (graphBytes.IsEmpty) throw new InvalidDataException("it holds no graph.");

        var nodes = new List<CnnNode>();
        var weights = new Dictionary<string, (long[], float[])>();
        var inputs = new List<(string Name, long[] Dims)>();
        var outputs = new List<string>();
        var graph = new ProtoReader(graphBytes);
        while (graph.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: nodes.Add(ReadNode(graph.Bytes(), nodes.Count)); break;
                case 5: var (name, dims, values) = ReadTensor(graph.Bytes()); weights[name] = (dims, values); break;
                case 11: inputs.Add(ReadValueInfo(graph.Bytes())); break;
                case 12: outputs.Add(ReadValueInfo(graph.Bytes()).Name); break;
                default: graph.Skip(wire); break;
            }
        }
        var image = inputs.Where(i => !weights.ContainsKey(i.Name)).ToList();
        if (image.Count != 1) throw new InvalidDataException($"the graph has {image.Count} non-constant inputs; a backbone takes one image input.");
        return new OnnxFile(path, sha256, nodes, weights, image[0].Name, image[0].Dims, outputs);
    }

    private static CnnNode ReadNode(ReadOnlySpan<byte> bytes, int index)
    {
        var reader = new ProtoReader(bytes);
        var inputs = new List<string>();
        var outputs = new List<string>();
        var ints = new Dictionary<string, long[]>();
        var floats = new Dictionary<string, double>();
        string name = "", op = "";
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: inputs.Add(reader.String()); break;
                case 2: outputs.Add(reader.String()); break;
                case 3: name = reader.String(); break;
                case 4: op = reader.String(); break;
                case 5: ReadAttribute(reader.Bytes(), ints, floats); break;
                default: reader.Skip(wire); break;
            }
        }
        return new CnnNode(op, name.Length > 0 ? name : $"{op}_{index}", inputs, outputs, ints, floats);
    }

    private static void ReadAttribute(ReadOnlySpan<byte> bytes, Dictionary<string, long[]> ints, Dictionary<string, double> floats)
    {
        var reader = new ProtoReader(bytes);
        string name = "";
        var list = new List<long>();
        float? single = null;
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: name = reader.String(); break;
                case 2: single = reader.Float(); break;
                case 3: list.Add(reader.Int()); break;
                case 8: reader.Int64s(wire, list); break;
                default: reader.Skip(wire); break;   // strings (auto_pad NOTSET), tensors, graphs: not used by the supported operators
            }
        }
        if (single is { } f) floats[name] = f;
        if (list.Count > 0) ints[name] = list.ToArray();
    }

    private static (string Name, long[] Dims, float[] Values) ReadTensor(ReadOnlySpan<byte> bytes)
    {
        var reader = new ProtoReader(bytes);
        var dims = new List<long>();
        var floats = new List<float>();
        byte[]? raw = null;
        string name = "";
        long dataType = 0;
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: reader.Int64s(wire, dims); break;
                case 2: dataType = reader.Int(); break;
                case 4: reader.Floats(wire, floats); break;
                case 8: name = reader.String(); break;
                case 9: raw = reader.Bytes().ToArray(); break;
                case 13 or 14:
                    throw new InvalidDataException("a weight is stored outside the file (external data); save the model with its weights inside.");
                default: reader.Skip(wire); break;
            }
        }
        if (dataType != OnnxModelBuilder.Float32)
            throw new InvalidDataException($"the weight '{name}' has ONNX data type {dataType}; only float32 weights are read.");
        long count = dims.Aggregate(1L, (a, b) => a * b);
        float[] values = raw is not null ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray() : floats.ToArray();
        if (values.Length != count)
            throw new InvalidDataException($"the weight '{name}' holds {values.Length} values for shape [{string.Join(", ", dims)}].");
        return (name, dims.ToArray(), values);
    }

    private static (string Name, long[] Dims) ReadValueInfo(ReadOnlySpan<byte> bytes)
    {
        var reader = new ProtoReader(bytes);
        string name = "";
        var dims = new List<long>();
        while (reader.Next(out int field, out int wire))
        {
            if (field == 1) name = reader.String();
            else if (field == 2) ReadTensorShape(reader.Bytes(), dims);
            else reader.Skip(wire);
        }
        return (name, dims.ToArray());
    }

    // TypeProto.tensor_type (1) → TypeProto.Tensor.shape (2) → TensorShapeProto.dim (1) → dim_value (1); a named dimension reads as 0.
    private static void ReadTensorShape(ReadOnlySpan<byte> typeBytes, List<long> dims)
    {
        var type = new ProtoReader(typeBytes);
        while (type.Next(out int field, out int wire))
        {
            if (field != 1) { type.Skip(wire); continue; }
            var tensor = new ProtoReader(type.Bytes());
            while (tensor.Next(out int tf, out int tw))
            {
                if (tf != 2) { tensor.Skip(tw); continue; }
                var shape = new ProtoReader(tensor.Bytes());
                while (shape.Next(out int sf, out int sw))
                {
                    if (sf != 1) { shape.Skip(sw); continue; }
                    var dim = new ProtoReader(shape.Bytes());
                    long value = 0;
                    while (dim.Next(out int df, out int dw)) if (df == 1) value = dim.Int(); else dim.Skip(dw);
                    dims.Add(value);
                }
            }
        }
    }

    /// <summary>
    /// The backbone of <paramref name="networks"/> run one after the other (a preprocessing graph, then the CNN; each one's
    /// image input is fed the previous one's first output), cut at <paramref name="cutAt"/> and with every node after it
    /// dropped. Returns the graph and its weights as tensors (the caller owns them).
    /// </summary>
    public static (CnnGraph Graph, Dictionary<string, Tensor> Weights) Compose(string source, int nativeSide, string cutAt,
        params OnnxFile[] networks)
    {
        var graph = ComposeGraph(source, nativeSide, cutAt, networks);
        return (graph, WeightsOf(graph, networks));
    }

    /// <summary>The graph of <see cref="Compose"/> alone: no tensor is made.</summary>
    public static CnnGraph ComposeGraph(string source, int nativeSide, string cutAt, params OnnxFile[] networks)
    {
        var nodes = new List<CnnNode>();
        var shapes = new Dictionary<string, long[]>();
        string input = networks[0].Input, previous = input;
        foreach (var network in networks)
        {
            string Rename(string value) => value == network.Input ? previous : value;
            foreach (var node in network.Nodes)
                nodes.Add(node with { Inputs = node.Inputs.Select(Rename).ToArray() });
            foreach (var (name, weight) in network.Weights) shapes[name] = weight.Dims;
            previous = network.Outputs[0];
        }
        int last = nodes.FindLastIndex(n => n.Outputs.Contains(cutAt));
        if (last < 0) throw new ArgumentException($"{source} has no value named '{cutAt}' to cut at.");
        nodes = nodes.Take(last + 1).ToList();
        foreach (var node in nodes)
            if (!CnnGraph.SupportedOps.Contains(node.Op))
                throw new NotSupportedException($"{source}: node '{node.Name}' is {node.Op}; a backbone may use only " +
                    $"{string.Join(", ", CnnGraph.SupportedOps)}.");
        var used = nodes.SelectMany(n => n.Inputs).Where(shapes.ContainsKey).ToHashSet();
        return new CnnGraph
        {
            Source = source, Sha256 = string.Join("+", networks.Select(n => n.Sha256)), Input = input, Output = cutAt,
            InputChannels = (int)networks[0].InputDims[1], OutputChannels = ChannelsOf(nodes, shapes, cutAt, (int)networks[0].InputDims[1], input),
            NativeSide = nativeSide, Nodes = nodes, Weights = shapes.Where(p => used.Contains(p.Key)).ToDictionary(p => p.Key, p => p.Value),
        };
    }

    /// <summary>The tensors of the weights <paramref name="graph"/> uses, from <paramref name="networks"/> (the caller owns them).</summary>
    public static Dictionary<string, Tensor> WeightsOf(CnnGraph graph, params OnnxFile[] networks)
    {
        var values = networks.SelectMany(n => n.Weights).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value);
        return graph.Weights.Keys.ToDictionary(name => name, name => tensor(values[name].Values, values[name].Dims));
    }

    private static int ChannelsOf(List<CnnNode> nodes, Dictionary<string, long[]> shapes, string value, int inputChannels, string input)
    {
        var channels = new Dictionary<string, long> { [input] = inputChannels };
        foreach (var node in nodes)
        {
            long c = node.Op switch
            {
                "Conv" => shapes[node.Inputs[1]][0],
                "Concat" => node.Inputs.Sum(i => channels.TryGetValue(i, out var n) ? n : shapes[i][1]),
                _ => channels.TryGetValue(node.Inputs[0], out var n) ? n : shapes[node.Inputs[0]][1],
            };
            if (node.Op == "Split")
            {
                var split = node.IntsOr("split");
                for (int o = 0; o < node.Outputs.Count; o++) channels[node.Outputs[o]] = split.Length > o ? split[o] : c / node.Outputs.Count;
            }
            else foreach (var output in node.Outputs) channels[output] = c;
        }
        return (int)channels[value];
    }
}
