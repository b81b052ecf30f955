using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2;

/// <summary>The classifier of an <see cref="Sape2ImageClassificationTrainer.Options.InitialModel"/> file, loaded for one fit.</summary>
internal sealed class InitialModel : IDisposable
{
    private readonly ITransformer model;

    private InitialModel(ITransformer model, ImageClassifier classifier) => (this.model, Classifier) = (model, classifier);

    /// <summary>The trained classifier to start from.</summary>
    public ImageClassifier Classifier { get; }

    /// <summary>Loads <paramref name="path"/>; null stays null. A file that is no SaPE² model is refused naming it.</summary>
    public static InitialModel? Load(string? path)
    {
        if (path is null) return null;
        var model = new MLContext().Model.LoadSape2Model(path, out _);
        return new InitialModel(model, Sape2ImageClassificationTransformer.FindIn(model).SingleNetwork($"InitialModel '{path}'"));
    }

    /// <inheritdoc />
    public void Dispose() => (model as IDisposable)?.Dispose();
}
