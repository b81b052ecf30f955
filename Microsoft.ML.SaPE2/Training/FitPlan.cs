using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// What a fit decides before any image is decoded, the automatic choices typed: the device (and why), the input format, the recipe and
/// each choice it made for an option left unset, the validation share held back, the model and the training options (seed and time limit
/// are set later). The trainer trains by it; the AutoML experiment reads R and the tokenizer from the default trial's.
/// </summary>
internal sealed record FitPlan(TorchSharp.torch.Device Device, string DeviceReason, ImageFormat Format, AutoRecipe.Recipe Recipe,
    IReadOnlyList<RecipeChoice> Choices, double HoldBack, VitConfig Architecture, TrainingOptions Training);
