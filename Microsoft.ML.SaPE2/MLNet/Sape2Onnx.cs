using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Interop;
using Microsoft.ML.SaPE2.Interop.Onnx;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML;

/// <summary>
/// A trained SaPE² classifier as an ONNX model (opset 12) that ONNX Runtime serves without TorchSharp: in ML.NET
/// (<c>LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel</c>), in any language, on any inference server
/// (Docs/onnx.md). Every position encoding exports; the image size is the model's, the batch dimension is free.
/// </summary>
/// <remarks>
/// The graph's input <see cref="InputName"/> is float32 (batch, C, H, W) of raw pixel values 0–255, channel-major (RGB, or
/// one gray channel), with the training normalisation inside the graph. Its outputs are <see cref="ScoresName"/>, the class
/// probabilities (batch, classes) as the transformer's Score column holds them, and <see cref="PredictedIndexName"/>, the
/// most probable class's index (batch), int64 from 0. The metadata holds the class names (<c>sape2.classes</c>, JSON), the
/// architecture (<c>sape2.config</c>), the normalisation inside the graph (<c>sape2.normalization</c>), the input layout
/// (<c>sape2.input</c>) and whether images are centre-cropped to the model's aspect before resizing (<c>sape2.keep_aspect</c>,
/// "true" or "false": a server must prepare images the same way).
/// </remarks>
public static class Sape2Onnx
{
    /// <summary>The graph's pixel input.</summary>
    public const string InputName = "pixels";
    /// <summary>The graph's class-probability output.</summary>
    public const string ScoresName = "scores";
    /// <summary>The graph's predicted-class output (0-based index into the class names).</summary>
    public const string PredictedIndexName = "predicted_index";

    /// <summary>Writes the SaPE² classifier in <paramref name="model"/> (a transformer or a chain holding one) to
    /// <paramref name="stream"/>.</summary>
    public static void Export(ITransformer model, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(Export(Sape2ImageClassificationTransformer.FindIn(model)));
    }

    /// <summary>Writes the SaPE² classifier in <paramref name="model"/> to <paramref name="path"/>, through a temporary file (an
    /// existing file stays as it was when the export fails).</summary>
    public static void Export(ITransformer model, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = Export(Sape2ImageClassificationTransformer.FindIn(model));
        AtomicFile.Write(path, temporary => File.WriteAllBytes(temporary, bytes));
    }

    /// <summary>The ONNX model file of <paramref name="classifier"/>.</summary>
    internal static byte[] Export(ImageClassifier classifier) => Export([classifier], [1f]);

    /// <summary>The ONNX model file of <paramref name="model"/>'s networks (an ensemble's averaged in the graph).</summary>
    private static byte[] Export(Sape2ImageClassificationTransformer model) => Export(model.EnsembleMembers, model.EnsembleWeights);

    private static byte[] Export(IReadOnlyList<ImageClassifier> members, IReadOnlyList<float> weights)
    {
        var classifier = members[0];
        var format = classifier.Format;
        var graph = new OnnxModelBuilder();
        var pixels = graph.Input(InputName, OnnxModelBuilder.Float32, format.Channels, format.Height, format.Width);
        var probabilities = VitOnnx.AveragedProbabilities(graph, members, weights, pixels);
        var predicted = graph.Op("ArgMax", new[] { probabilities }, OnnxAttribute.Int("axis", 1), OnnxAttribute.Int("keepdims", 0));
        graph.Output(probabilities, ScoresName, OnnxModelBuilder.Float32, classifier.ClassNames.Count);
        graph.Output(predicted, PredictedIndexName, OnnxModelBuilder.Int64);
        string version = typeof(Sape2Onnx).Assembly.GetName().Version?.ToString() ?? "";
        var metadata = InteropMetadata.Of(classifier);
        if (members.Count > 1)   // the config above is the first member's; the weights say how many networks the graph averages
            metadata["sape2.ensemble_weights"] = System.Text.Json.JsonSerializer.Serialize(weights);
        metadata["sape2.input"] = $"float32 (batch, {format.Channels}, {format.Height}, {format.Width}), pixel values 0-255, channel-major " +
            (format.Channels == 1 ? "gray" : "RGB");
        return graph.ToModel("sape2_image_classifier", version, metadata);
    }
}
