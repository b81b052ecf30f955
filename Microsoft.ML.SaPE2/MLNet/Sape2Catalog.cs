using Microsoft.ML.SaPE2;
using Microsoft.ML.Data;

namespace Microsoft.ML;

/// <summary>Adds the SaPE² image-classification trainer to <c>mlContext.MulticlassClassification.Trainers</c>.</summary>
public static class Sape2Catalog
{
    /// <summary>
    /// A vision-transformer image classifier with SaPE² position encoding, trained from scratch. A drop-in for ML.NET's
    /// <c>ImageClassification(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName,
    /// validationSet)</c>: the same parameters, defaults, input types and output columns, and, as there, 10% of the
    /// training data held back for validation when <paramref name="validationSet"/> is null. The overload taking
    /// options is not a drop-in: its <see cref="Sape2ImageClassificationTrainer.Options"/> are this trainer's own (no
    /// <c>Arch</c>, <c>WorkspacePath</c> or bottleneck caching; <c>Epochs</c> for <c>Epoch</c>).
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">The label column, a key type (from <c>MapValueToKey</c>).</param>
    /// <param name="featureColumnName">The image column: VarVector&lt;Byte&gt; (from <c>LoadRawImageBytes</c>) or Image (from
    /// <c>LoadImages</c>).</param>
    /// <param name="scoreColumnName">The output column of class probabilities.</param>
    /// <param name="predictedLabelColumnName">The output column of predicted labels.</param>
    /// <param name="validationSet">Data scored after every epoch to keep the best weights; null: a stratified 10% of the training
    /// data.</param>
    /// <example>See Samples/ImageClassification.ModelBuilderStyle for a complete program.</example>
    public static Sape2ImageClassificationTrainer Sape2ImageClassification(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = Sape2ImageClassificationTrainer.Defaults.LabelColumnName,
        string featureColumnName = Sape2ImageClassificationTrainer.Defaults.FeatureColumnName,
        string scoreColumnName = Sape2ImageClassificationTrainer.Defaults.ScoreColumnName,
        string predictedLabelColumnName = Sape2ImageClassificationTrainer.Defaults.PredictedLabelColumnName,
        IDataView? validationSet = null)
        => Sape2ImageClassification(catalog, new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName, ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = predictedLabelColumnName, ValidationSet = validationSet,
        });

    /// <summary>The SaPE² image classifier with every option of <see cref="Sape2ImageClassificationTrainer.Options"/>.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="options">Columns, model, training and device options.</param>
    /// <example>See Samples/ImageClassification.ModelBuilderStyle for a complete program.</example>
    public static Sape2ImageClassificationTrainer Sape2ImageClassification(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        Sape2ImageClassificationTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        MLNetVersionGuard.Check();
        return new Sape2ImageClassificationTrainer(MLNetInternals.EnvironmentOf(catalog), options);
    }
}
