using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using Microsoft.ML.SaPE2.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Tests.Training;

/// <summary>Runs that train and score without an error but would return a worse model than they should: the EMA's batch-norm
/// statistics, a bf16 resume, and a backward failure raised in the wrong trainer.</summary>
[TestClass]
public sealed class TrainingCorrectnessTests
{
    static readonly VitConfig ConvolutionalStem8 = TrainingEngineTests.Tiny8 with { Tokenizer = TokenizerKind.Convolutional };
    string folder = "";

    [TestInitialize]
    public void CreateFolder() => folder = Directory.CreateTempSubdirectory("sape2-correct-").FullName;

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    /// <summary>Bright two-class images (pixels 150–254): far from BatchNorm's initial mean 0 and variance 1, so a stem scored with
    /// those statistics sees activations unlike any it trained on. Returns the images and their bytes.</summary>
    static (ImageDataset Data, byte[] Pixels) BrightStripes(int count, int seed)
    {
        var data = TrainingEngineTests.Stripes(count, seed, bright: 215, dark: 150);
        return (data, Enumerable.Range(0, count).SelectMany(i => data.Image(i).ToArray()).ToArray());
    }

    static double Accuracy(ImageClassifier classifier, ImageDataset data, byte[] pixels)
    {
        var probabilities = classifier.PredictProbabilities(pixels, data.Count);
        int hits = Enumerable.Range(0, data.Count).Count(i => (probabilities[2 * i + 1] > probabilities[2 * i] ? 1 : 0) == data.Labels[i]);
        return (double)hits / data.Count;
    }

    [TestMethod]
    public void EmaWithTheConvolutionalStemKeepsTheDatasBatchNormStatistics()
    {
        var (train, trainPixels) = BrightStripes(128, seed: 0);
        var (test, testPixels) = BrightStripes(64, seed: 1);
        var options = TrainingEngineTests.Quick(6) with { EmaDecay = 0.9 };
        using var plain = VisionTransformerTrainer.Fit(train, null, ConvolutionalStem8, options with { EmaDecay = 0 }).Classifier;
        using var averaged = VisionTransformerTrainer.Fit(train, null, ConvolutionalStem8, options).Classifier;

        // The first BatchNorm's running mean and variance are those of its input, the first convolution's output, over the data.
        var modules = averaged.Model.named_modules().ToDictionary(m => m.name, m => m.module);
        var convolution = (Conv2d)modules.Single(m => m.Key.EndsWith("conv0")).Value;
        var norm = (BatchNorm2d)modules.Single(m => m.Key.EndsWith("norm0")).Value;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var images = tensor(trainPixels.Select(b => (b / 255f - 0.5f) / 0.5f).ToArray()).view(128, 1, 8, 8);
            var features = convolution.forward(images);                                       // (B, C, 8, 8)
            var mean = features.mean(new long[] { 0, 2, 3 });
            var variance = features.var(new long[] { 0, 2, 3 });
            double meanScale = mean.abs().max().item<float>();
            Assert.IsTrue(meanScale > 0.1, $"The convolution's output has mean {meanScale:G3}: the data do not test the statistics.");
            TensorAssert.AreClose(mean, norm.running_mean!, 0.2 * meanScale, "the EMA model's running mean against the data's");
            TensorAssert.AreClose(variance, norm.running_var!, 0.3 * variance.max().item<float>(),
                "the EMA model's running variance against the data's");
        }

        double plainAccuracy = Accuracy(plain, test, testPixels), averagedAccuracy = Accuracy(averaged, test, testPixels);
        Assert.IsTrue(plainAccuracy >= 0.9, $"The run without EMA learned too little to compare with ({plainAccuracy:P1}).");
        Assert.IsTrue(averagedAccuracy >= plainAccuracy - 0.05,
            $"With EMA the model scores {averagedAccuracy:P1}, without it {plainAccuracy:P1}.");
    }

    [TestMethod]
    public void TheEmaDecayWarmsUp()
    {
        // d_t = min(d, (1 + t)/(10 + t)): the first steps mostly take the live weights, later ones average at d.
        using var scope = NewDisposeScope();
        using var model = new VisionTransformer(TrainingEngineTests.Tiny8);
        using var ema = new ModelEma(model, 0.999);
        Assert.AreEqual(0.1, ema.DecayAt(0), 1e-12);
        Assert.AreEqual(0.91, ema.DecayAt(90), 1e-12);
        Assert.AreEqual(0.999, ema.DecayAt(100_000), 1e-12);
        var before = ema.Model.parameters().First().detach().clone();
        using (no_grad()) foreach (var p in model.parameters()) p.add_(1.0);
        ema.Update(model, step: 0);
        TensorAssert.AreClose(before + 0.9, ema.Model.parameters().First(), 1e-6, "0.1·ema + 0.9·(w + 1) after step 0");
    }

    [TestMethod]
    public void ABFloat16RunResumedEndsEqualToAnUninterruptedOne()
    {
        // As the fp32 resume test, in bf16 and with the convolutional stem, whose batch-norm statistics the copy must take from the
        // checkpoint as well as the weights. One thread: bf16 on the CPU with two is not bit-for-bit repeatable even without a resume
        // (two uninterrupted runs differed in the 7th digit of the first epoch's loss).
        var options = TrainingEngineTests.Quick(4) with { Precision = TrainingPrecision.BFloat16, Threads = 1, LoaderWorkers = 1,
            Augmentation = new AugmentationOptions { RandomCropPadding = 1, MixupAlpha = 0.5, CutmixAlpha = 0 } };
        var data = TrainingEngineTests.Stripes(64);
        using var straight = VisionTransformerTrainer.Fit(data, null, ConvolutionalStem8, options).Classifier;
        var checkpoints = Path.Combine(folder, "bf16");
        using (var cancel = new CancellationTokenSource())
        {
            var stopAfterTwoEpochs = new SynchronousProgress(p => { if (p.EpochCompleted && p.Epoch == 2) cancel.Cancel(); });
            VisionTransformerTrainer.Fit(data, null, ConvolutionalStem8, options with { CheckpointDirectory = checkpoints, ProgressInterval = 1000 },
                stopAfterTwoEpochs, cancel.Token).Classifier.Dispose();
        }
        Assert.IsTrue(Checkpoint.Read(Path.Combine(checkpoints, "last.ckpt")).Metadata.EpochsCompleted is 2 or 3);
        using var resumed = VisionTransformerTrainer.Fit(data, null, ConvolutionalStem8,
            options with { ResumeFrom = Path.Combine(checkpoints, "last.ckpt") }).Classifier;
        CollectionAssert.AreEqual(straight.History.Select(h => h.TrainLoss).ToArray(), resumed.History.Select(h => h.TrainLoss).ToArray(),
            "A resumed bf16 run must reproduce the uninterrupted losses bit for bit.");
        foreach (var ((name, expected), (_, actual)) in straight.Model.state_dict().Zip(resumed.Model.state_dict()))
            Assert.IsTrue(expected.eq(actual).all().item<bool>(), $"{name} differs after the resume.");
    }

    [TestMethod]
    public void AResumeOnOtherImagesIsRefusedNamingThem()
    {
        var options = TrainingEngineTests.Quick(3) with { CheckpointDirectory = Path.Combine(folder, "run") };
        using (var cancel = new CancellationTokenSource())
            VisionTransformerTrainer.Fit(TrainingEngineTests.Stripes(64), null, TrainingEngineTests.Tiny8, options,
                new SynchronousProgress(p => { if (p.EpochCompleted) cancel.Cancel(); }), cancel.Token).Classifier.Dispose();
        var resume = options with { ResumeFrom = Path.Combine(folder, "run", "last.ckpt") };
        // The same count and classes, other pixels: the checkpoint's weights were not trained on these.
        var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            VisionTransformerTrainer.Fit(TrainingEngineTests.Stripes(64, seed: 5), null, TrainingEngineTests.Tiny8, resume));
        StringAssert.Contains(e.Message, "was trained on other images");
        StringAssert.Contains(e.Message, "64 images (right 32, left 32)");
        using var same = VisionTransformerTrainer.Fit(TrainingEngineTests.Stripes(64), null, TrainingEngineTests.Tiny8, resume).Classifier;
        Assert.AreEqual(3, same.History.Count, "The same images resume.");
    }

    [TestMethod]
    public void ABackwardFailureIsRaisedOnlyByTheTrainerWhoseLayerFailed()
    {
        // Two trainers in one process (two experiment workers): the first one's SaPE² backward fails; the second, stepping after that
        // failure was recorded and before the first raises it, must not be thrown the first one's exception.
        var failing = new BackwardFailureSlot();
        var recorded = new ManualResetEventSlim();
        var otherStepped = new ManualResetEventSlim();
        Exception? raised = null;
        var first = new Thread(() =>
        {
            using var scope = NewDisposeScope();
            torch.manual_seed(6);
            var q = randn(1, 2, 10, 4).requires_grad_();
            var k = randn(1, 2, 10, 4).requires_grad_();
            var tables = randn(4, 8).requires_grad_();
            int built = 0;
            var suffix = new FixedTableCache((device, dtype, size) => ++built == 1
                ? PositionMath.SuffixOnes(device, dtype, size)
                : throw new InvalidOperationException("this trainer's backward failed"));
            var logits = Sape2Logits.Compute(q, k, tables.narrow(1, 0, 4), tables.narrow(1, 4, 4), new Sape2Logits.Settings(
                new PatchGrid(3, 3), 4, 1, 0.5, Sape2Mode.Key, 1, true, false, suffix, null, failing));
            suffix.Dispose();   // the backward must build the matrix again, and that fails
            logits.sum().backward();
            recorded.Set();
            otherStepped.Wait();
            try { failing.ThrowIfFailed(); } catch (Exception e) { raised = e; }
        });
        Exception? otherRaised = null;
        var second = new Thread(() =>
        {
            recorded.Wait();
            try
            {
                using var scope = NewDisposeScope();
                torch.manual_seed(7);
                var config = VitConfig.FromPreset(VitPreset.Micro, imageSize: 8, patchSize: 4, inChannels: 1, numClasses: 2) with { Depth = 1 };
                using var model = new VisionTransformer(config);
                using var step = new OptimizationStep(model, 1e-3, 0.05, 1.0);
                var labels = tensor(new long[] { 0, 1, 0, 1 });
                step.Run(randn(4, 1, 8, 8), nn.functional.one_hot(labels, 2).to(ScalarType.Float32), labels, 1e-3);
            }
            catch (Exception e) { otherRaised = e; }
            finally { otherStepped.Set(); }
        });
        first.Start(); second.Start();
        Assert.IsTrue(first.Join(TimeSpan.FromMinutes(2)) && second.Join(TimeSpan.FromMinutes(2)), "The trainers did not finish.");
        Assert.IsNull(otherRaised, $"The healthy trainer was thrown: {otherRaised?.Message}");
        Assert.IsInstanceOfType<InvalidOperationException>(raised, "The failing trainer was not thrown its own failure.");
        Assert.AreEqual("this trainer's backward failed", raised!.Message);
        failing.ThrowIfFailed();   // raised once
    }
}
