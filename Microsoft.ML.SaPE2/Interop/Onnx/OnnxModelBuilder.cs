using System.Runtime.InteropServices;

namespace Microsoft.ML.SaPE2.Interop.Onnx;

/// <summary>
/// An <see cref="OnnxGraph"/> that becomes a stand-alone ONNX model (ModelProto, IR version 7, default-domain opset
/// <see cref="OnnxGraph.OpsetVersion"/>): inputs and outputs with a dynamic batch dimension, constants as initializers,
/// and string metadata.
/// </summary>
internal sealed class OnnxModelBuilder : OnnxGraph
{
    private const long IrVersion = 7;
    /// <summary>TensorProto.DataType values.</summary>
    public const int Float32 = 1, Int64 = 7;

    private readonly List<Action<ProtoWriter>> nodes = new();
    private readonly List<Action<ProtoWriter>> initializers = new();
    private readonly List<Action<ProtoWriter>> inputs = new();
    private readonly List<Action<ProtoWriter>> outputs = new();
    private readonly HashSet<string> names = new();

    /// <summary>A graph input of <paramref name="elementType"/>: the dynamic batch, then <paramref name="dims"/>.</summary>
    public string Input(string name, int elementType, params long[] dims)
    {
        inputs.Add(w => ValueInfo(w, Unique(name), elementType, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> the graph output <paramref name="name"/> (batch, then <paramref name="dims"/>).</summary>
    public void Output(string value, string name, int elementType, params long[] dims)
    {
        Unique(name);
        AddNode("Identity", new[] { value }, Array.Empty<OnnxAttribute>(), name, exactName: true);
        outputs.Add(w => ValueInfo(w, name, elementType, dims));
    }

    /// <summary>The model file's bytes, with <paramref name="metadata"/> as its metadata_props.</summary>
    public byte[] ToModel(string graphName, string producerVersion, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ProtoWriter()
            .Int(1, IrVersion)
            .String(2, "Microsoft.ML.SaPE2")
            .String(3, producerVersion)
            .Message(8, opset => opset.String(1, "").Int(2, OpsetVersion))
            .Message(7, graph =>
            {
                foreach (var node in nodes) graph.Message(1, node);
                graph.String(2, graphName);
                foreach (var initializer in initializers) graph.Message(5, initializer);
                foreach (var input in inputs) graph.Message(11, input);
                foreach (var output in outputs) graph.Message(12, output);
            });
        foreach (var (key, value) in metadata) model.Message(14, entry => entry.String(1, key).String(2, value));
        return model.ToArray();
    }

    protected override string AddNode(string opType, IReadOnlyList<string> inputs, IReadOnlyList<OnnxAttribute> attributes, string hint) =>
        AddNode(opType, inputs, attributes, hint, exactName: false);

    private string AddNode(string opType, IReadOnlyList<string> inputs, IReadOnlyList<OnnxAttribute> attributes, string hint, bool exactName)
    {
        string output = exactName ? hint : Unique(hint);
        nodes.Add(w =>
        {
            foreach (var input in inputs) w.String(1, input);
            w.String(2, output).String(3, output).String(4, opType);
            foreach (var attribute in attributes) w.Message(5, a => Attribute(a, attribute));
        });
        return output;
    }

    protected override string AddConstant(string hint, float[] values, long[] dims) =>
        AddInitializer(hint, Float32, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    protected override string AddConstant(string hint, long[] values, long[] dims) =>
        AddInitializer(hint, Int64, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    private string AddInitializer(string hint, int dataType, long[] dims, byte[] littleEndian)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian.");
        string name = Unique(hint);
        initializers.Add(w =>
        {
            foreach (var dim in dims) w.Int(1, dim);
            w.Int(2, dataType).String(8, name).Bytes(9, littleEndian);
        });
        return name;
    }

    private string Unique(string hint)
    {
        string name = hint;
        for (int i = 1; !names.Add(name); i++) name = $"{hint}_{i}";
        return name;
    }

    private static void ValueInfo(ProtoWriter w, string name, int elementType, long[] dims) =>
        w.String(1, name).Message(2, type => type.Message(1, tensor => tensor.Int(1, elementType).Message(2, shape =>
        {
            shape.Message(1, dim => dim.String(2, "batch"));
            foreach (var d in dims) shape.Message(1, dim => dim.Int(1, d));
        })));

    /// <summary>AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7).</summary>
    private static void Attribute(ProtoWriter w, OnnxAttribute attribute)
    {
        w.String(1, attribute.Name);
        switch (attribute.Value)
        {
            case long i: w.Int(3, i).Int(20, 2); break;
            case float f: w.Float(2, f).Int(20, 1); break;
            case long[] ints:
                foreach (var i in ints) w.Int(8, i);
                w.Int(20, 7);
                break;
            default: throw new ArgumentException($"Attribute '{attribute.Name}' has an unsupported value {attribute.Value}.");
        }
    }
}
