// User code outside this library's namespaces needs these two usings and no more, as
// `using Microsoft.ML.Vision;` suffices for ML.NET's image classifier. This file must compile with only them.
using Microsoft.ML;
using Microsoft.ML.SaPE2;

namespace UserCode;

[TestClass]
public sealed class OneUsingTests
{
    [TestMethod]
    public void TheCatalogOptionsEnumsAndTransformerNeedOnlyTwoUsings()
    {
        var ml = new MLContext(seed: 1);
        var options = new Sape2ImageClassificationTrainer.Options
        {
            LabelColumnName = "Label", FeatureColumnName = "Image", Preset = VitPreset.Micro, PositionEncoding = PositionEncodingKind.Sape2,
            Sape2Mode = Sape2Mode.Query, Tokenizer = TokenizerKind.Convolutional, Pooling = PoolingKind.SequencePooling,
            Initialization = WeightInitialization.PyTorchDefault, Augmentation = AugmentationOptions.None,
            Normalization = new Normalization(new[] { 0.5f }, new[] { 0.25f }), Channels = 1,
            MetricsCallback = (TrainingProgress p) => { }, Progress = new SynchronousProgress(p => { }),
        };
        Sape2ImageClassificationTrainer trainer = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options);
        Assert.IsNotNull(trainer);
        Assert.AreEqual("Microsoft.ML.SaPE2", typeof(Sape2ImageClassificationTransformer).Namespace);
        foreach (var type in new[] { typeof(Sape2ImageClassificationTrainer), typeof(VitPreset), typeof(PositionEncodingKind), typeof(Sape2Mode),
            typeof(TokenizerKind), typeof(PoolingKind), typeof(WeightInitialization), typeof(AugmentationOptions), typeof(Normalization),
            typeof(TrainingProgress), typeof(EpochMetrics), typeof(SynchronousProgress), typeof(InvalidImageException) })
            Assert.AreEqual("Microsoft.ML.SaPE2", type.Namespace, type.Name);
    }
}
