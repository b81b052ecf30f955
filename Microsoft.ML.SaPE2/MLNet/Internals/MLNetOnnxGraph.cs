using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.SaPE2.Interop.Onnx;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// An <see cref="OnnxGraph"/> that writes into ML.NET's converter (<c>mlContext.Model.ConvertToOnnx</c>), so the transformer's
/// ONNX hook emits the same nodes as <see cref="Microsoft.ML.Sape2Onnx"/>. Names come from the context, unique in the whole
/// pipeline's graph.
/// </summary>
internal sealed class MLNetOnnxGraph(OnnxContext context) : OnnxGraph
{
    private const string Prefix = "Sape2.";

    /// <summary>The graph variable that holds pipeline column <paramref name="column"/> at this point.</summary>
    public string ColumnVariable(string column) => context.GetVariableName(column);

    /// <summary>Makes <paramref name="input"/>, through one <paramref name="opType"/> node, the pipeline's column
    /// <paramref name="column"/> of <paramref name="type"/> (a later transform reads it by that name).</summary>
    public void SetColumn(string column, DataViewType type, string opType, string input, params OnnxAttribute[] attributes)
    {
        string output = context.AddIntermediateVariable(type, column);
        var node = context.CreateNode(opType, input, output, context.GetNodeName(opType), "");
        foreach (var attribute in attributes) AddAttribute(node, attribute);
    }

    protected override string AddNode(string opType, IReadOnlyList<string> inputs, IReadOnlyList<OnnxAttribute> attributes, string hint)
    {
        string output = context.AddIntermediateVariable(null, Prefix + hint, skip: true);
        var node = context.CreateNode(opType, inputs, new[] { output }, context.GetNodeName(Prefix + opType), "");
        foreach (var attribute in attributes) AddAttribute(node, attribute);
        return output;
    }

    private static void AddAttribute(OnnxNode node, OnnxAttribute attribute)
    {
        switch (attribute.Value)
        {
            case long i: node.AddAttribute(attribute.Name, i); break;
            case float f: node.AddAttribute(attribute.Name, (double)f); break;
            case long[] ints: node.AddAttribute(attribute.Name, ints); break;
            default: throw new ArgumentException($"Attribute '{attribute.Name}' has an unsupported value {attribute.Value}.");
        }
    }

    // ML.NET's tensor overloads multiply the dimensions together and fail on a scalar's empty list: scalars take their own.
    protected override string AddConstant(string hint, float[] values, long[] dims) =>
        dims.Length == 0 ? context.AddInitializer(values[0], Prefix + hint) : context.AddInitializer(values, dims, Prefix + hint);

    protected override string AddConstant(string hint, long[] values, long[] dims) =>
        dims.Length == 0 ? context.AddInitializer(values[0], Prefix + hint) : context.AddInitializer(values, dims, Prefix + hint);
}
