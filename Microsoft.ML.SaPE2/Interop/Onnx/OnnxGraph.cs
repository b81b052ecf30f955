using System.Globalization;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Interop.Onnx;

/// <summary>An attribute of an ONNX node: an int64, a float, or a list of int64.</summary>
internal readonly record struct OnnxAttribute(string Name, object Value)
{
    public static OnnxAttribute Int(string name, long value) => new(name, value);
    public static OnnxAttribute Float(string name, float value) => new(name, value);
    public static OnnxAttribute Ints(string name, params long[] values) => new(name, values);
}

/// <summary>
/// Where a model's ONNX nodes go: a stand-alone model file (<see cref="OnnxModelBuilder"/>) or ML.NET's converter (the
/// transformer's ONNX hook). Every node and constant is emitted through here at <see cref="OpsetVersion"/>, so the graph
/// code is written once. Values are named by strings; each method returns the name of its output.
/// </summary>
internal abstract class OnnxGraph
{
    /// <summary>The opset every emitted node is written for: ML.NET's converter stops at 12 (so no LayerNormalization, and
    /// axes are attributes), and ONNX Runtime runs it.</summary>
    public const int OpsetVersion = 12;

    private readonly Dictionary<string, string> sharedConstants = new();

    /// <summary>Adds a node; returns its single output's name (<paramref name="hint"/> helps readers of the graph).</summary>
    protected abstract string AddNode(string opType, IReadOnlyList<string> inputs, IReadOnlyList<OnnxAttribute> attributes, string hint);

    /// <summary>Adds a float32 constant of shape <paramref name="dims"/>; returns its name.</summary>
    protected abstract string AddConstant(string hint, float[] values, long[] dims);

    /// <summary>Adds an int64 constant of shape <paramref name="dims"/>; returns its name.</summary>
    protected abstract string AddConstant(string hint, long[] values, long[] dims);

    /// <summary>A node of <paramref name="opType"/> with the given attributes.</summary>
    public string Op(string opType, string[] inputs, params OnnxAttribute[] attributes) => AddNode(opType, inputs, attributes, opType);

    /// <summary>A node of <paramref name="opType"/> without attributes.</summary>
    public string Op(string opType, params string[] inputs) => AddNode(opType, inputs, Array.Empty<OnnxAttribute>(), opType);

    /// <summary>A float32 copy of <paramref name="tensor"/> as a constant named after <paramref name="name"/>.</summary>
    public string Weight(string name, Tensor tensor)
    {
        using var values = tensor.detach().to(ScalarType.Float32).cpu().contiguous();
        return AddConstant(name, values.data<float>().ToArray(), values.shape);
    }

    /// <summary>A float32 constant, shared by every use of the same values.</summary>
    public string Floats(long[] dims, params float[] values) =>
        Shared($"f[{string.Join(",", dims)}]{string.Join(";", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}",
            () => AddConstant("const", values, dims));

    /// <summary>A float32 scalar constant (broadcasts against anything).</summary>
    public string Scalar(float value) => Floats(Array.Empty<long>(), value);

    /// <summary>A 1-D int64 constant: a shape, pads, or indices.</summary>
    public string Int64s(params long[] values) =>
        Shared($"i[{values.Length}]{string.Join(",", values)}", () => AddConstant("shape", values, new long[] { values.Length }));

    /// <summary>An int64 scalar constant (an index that drops its axis in Gather).</summary>
    public string Index(long value) => Shared($"i[]{value}", () => AddConstant("index", new[] { value }, Array.Empty<long>()));

    private string Shared(string key, Func<string> add)
    {
        if (!sharedConstants.TryGetValue(key, out var name)) sharedConstants[key] = name = add();
        return name;
    }

    public string Add(string a, string b) => Op("Add", a, b);
    public string Sub(string a, string b) => Op("Sub", a, b);
    public string Mul(string a, string b) => Op("Mul", a, b);
    public string Div(string a, string b) => Op("Div", a, b);
    public string MatMul(string a, string b) => Op("MatMul", a, b);

    /// <summary>Reshape to <paramref name="shape"/> (−1 for the batch, which stays dynamic).</summary>
    public string Reshape(string x, params long[] shape) => Op("Reshape", x, Int64s(shape));

    public string Transpose(string x, params long[] perm) => Op("Transpose", new[] { x }, OnnxAttribute.Ints("perm", perm));

    /// <summary><paramref name="length"/> entries of <paramref name="axis"/> from <paramref name="start"/> (torch's narrow).</summary>
    public string Narrow(string x, long axis, long start, long length) =>
        Op("Slice", x, Int64s(start), Int64s(start + length), Int64s(axis));

    /// <summary>Entry <paramref name="index"/> of <paramref name="axis"/>, which disappears (torch's select).</summary>
    public string Select(string x, long axis, long index) => Op("Gather", new[] { x, Index(index) }, OnnxAttribute.Int("axis", axis));

    public string Unsqueeze(string x, params long[] axes) => Op("Unsqueeze", new[] { x }, OnnxAttribute.Ints("axes", axes));

    public string Concat(long axis, params string[] inputs) => Op("Concat", inputs, OnnxAttribute.Int("axis", axis));

    public string Softmax(string x, long axis) => Op("Softmax", new[] { x }, OnnxAttribute.Int("axis", axis));

    /// <summary>The mean over <paramref name="axes"/>, keeping them as size 1 when <paramref name="keep"/>.</summary>
    public string ReduceMean(string x, bool keep, params long[] axes) =>
        Op("ReduceMean", new[] { x }, OnnxAttribute.Ints("axes", axes), OnnxAttribute.Int("keepdims", keep ? 1 : 0));

    /// <summary>x·Wᵀ + b of a torch Linear with <paramref name="name"/>.weight (out, in) and .bias in <paramref name="weights"/>.</summary>
    public string Linear(string x, IReadOnlyDictionary<string, Tensor> weights, string name)
    {
        using var transposed = weights[name + ".weight"].t();
        var y = MatMul(x, Weight(name + ".weight", transposed));
        return weights.TryGetValue(name + ".bias", out var bias) ? Add(y, Weight(name + ".bias", bias)) : y;
    }

    /// <summary>Layer normalisation over the last axis, decomposed (LayerNormalization is opset 17): biased variance, as torch.</summary>
    public string LayerNorm(string x, IReadOnlyDictionary<string, Tensor> weights, string name, float epsilon)
    {
        var centred = Sub(x, ReduceMean(x, keep: true, -1));
        var variance = ReduceMean(Mul(centred, centred), keep: true, -1);
        var normed = Div(centred, Op("Sqrt", Add(variance, Scalar(epsilon))));
        return Add(Mul(normed, Weight(name + ".weight", weights[name + ".weight"])), Weight(name + ".bias", weights[name + ".bias"]));
    }

    /// <summary>Exact GELU, <c>x·½·(1 + erf(x/√2))</c> (torch's default; Gelu is opset 20).</summary>
    public string Gelu(string x) =>
        Mul(Mul(x, Scalar(0.5f)), Add(Scalar(1f), Op("Erf", Div(x, Scalar(MathF.Sqrt(2f))))));
}
