using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2.Interop;

/// <summary>
/// The string metadata exported files carry (safetensors and ONNX alike), for readers outside .NET: the architecture with
/// its choices spelled as names (<c>"PositionEncoding": "Sape2"</c>), the class names, the input normalisation and whether
/// images are centre-cropped before resizing.
/// </summary>
internal static class InteropMetadata
{
    public const string ConfigKey = "sape2.config", ClassesKey = "sape2.classes", NormalizationKey = "sape2.normalization",
        KeepAspectKey = "sape2.keep_aspect";

    /// <summary>Enums as names when writing; names or the numbers older files hold when reading.</summary>
    public static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>The architecture, classes and normalisation of <paramref name="classifier"/>.</summary>
    public static Dictionary<string, string> Of(ImageClassifier classifier) => new()
    {
        [ConfigKey] = JsonSerializer.Serialize(classifier.Config, Json),
        [ClassesKey] = JsonSerializer.Serialize(classifier.ClassNames, Json),
        [NormalizationKey] = JsonSerializer.Serialize(new { classifier.Normalization.Mean, classifier.Normalization.Std }, Json),
        // Whether images are centre-cropped to the model's aspect before resizing ("true"), or stretched ("false"): a server must do the same.
        [KeepAspectKey] = classifier.Format.KeepAspectByCenterCrop ? "true" : "false",
    };
}
