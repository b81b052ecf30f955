using Microsoft.ML.SaPE2.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// Starts a model from a trained classifier of the same architecture — retraining on new data, with the same classes or others.
/// Every weight is copied, but the head's rows go by class name: a class both models know keeps its row, a new class keeps the
/// fresh initialisation of the new model (so a user may add, drop or reorder classes).
/// </summary>
internal static class InitialWeights
{
    /// <summary>Copies <paramref name="initial"/>'s weights into <paramref name="model"/>, whose classes are <paramref name="classNames"/>.</summary>
    public static void Apply(VisionTransformer model, ImageClassifier initial, IReadOnlyList<string> classNames)
    {
        if (model.Config with { NumClasses = initial.Config.NumClasses } != initial.Config)
            throw new InvalidOperationException("The initial model's architecture differs from the one being trained; start from a model " +
                "of the same architecture (the trainer takes it from InitialModel).");
        using var noGrad = no_grad();
        var source = initial.Model.state_dict();
        var oldRow = classNames.Select(name => initial.ClassNames.ToList().IndexOf(name)).ToArray();
        foreach (var (name, target) in model.state_dict())
        {
            if (!source.TryGetValue(name, out var value) || !value.shape.SequenceEqual(target.shape) && !IsHead(name))
                throw new InvalidOperationException($"The initial model has no weight '{name}' of shape [{string.Join(", ", target.shape)}].");
            if (!IsHead(name)) { target.copy_(value); continue; }
            for (int row = 0; row < oldRow.Length; row++)   // (classes, dim) weight or (classes) bias: rows by class name
                if (oldRow[row] >= 0) target[row].copy_(value[oldRow[row]]);
        }
    }

    /// <summary>How many of <paramref name="classNames"/> the initial model knows (for the log).</summary>
    public static int KnownClasses(ImageClassifier initial, IReadOnlyList<string> classNames) => classNames.Count(initial.ClassNames.Contains);

    private static bool IsHead(string name) => name is "head.weight" or "head.bias";
}
