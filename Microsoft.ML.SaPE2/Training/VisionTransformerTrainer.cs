using System.Diagnostics;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>The outcome of a fit: the classifier with the best weights, and how the run ended.</summary>
internal sealed record TrainingResult(ImageClassifier Classifier, int BestEpoch, double? BestValidationAccuracy, bool Cancelled, bool StoppedEarly)
{
    /// <summary>True when <see cref="TrainingOptions.TimeLimit"/> shortened the run (fewer epochs planned, or the last one cut short).</summary>
    public bool ShortenedByTimeLimit { get; init; }
    /// <summary>The epochs the run planned at its end: <see cref="TrainingOptions.Epochs"/>, or fewer to fit the time limit.</summary>
    public int PlannedEpochs { get; init; }
}

/// <summary>Validation figures of one evaluation: mean cross-entropy (ML.NET's log-loss), accuracy and macro accuracy.</summary>
internal sealed record ValidationScore(double Loss, double Accuracy, double MacroAccuracy);

/// <summary>
/// Trains a <see cref="VisionTransformer"/> on an <see cref="ImageDataset"/>: AdamW with warm-up and cosine decay,
/// gradient clipping, optional EMA, validation every epoch, best-weights selection, early stopping, atomic
/// checkpoints and resume. Progress goes to an <see cref="IProgress{T}"/>; a cancellation stops within one step and
/// returns the best model so far (<see cref="TrainingResult.Cancelled"/>), or throws <see cref="OperationCanceledException"/>
/// when no epoch has ended yet and there is nothing trained to return. With a <see cref="TrainingOptions.TimeLimit"/> the schedule is shrunk after
/// each epoch to the epochs that still fit, so the learning rate anneals before the time is up; if an epoch still
/// overruns, it ends at the limit and is validated as it stands.
/// </summary>
internal static class VisionTransformerTrainer
{
    /// <summary>Trains a model of <paramref name="architecture"/> (its size, channel and class counts are taken from the data).</summary>
    /// <param name="train">The training images.</param>
    /// <param name="validation">Images scored after every epoch to pick the best weights; null: none.</param>
    /// <param name="architecture">The model; its size, channels and classes are taken from <paramref name="train"/>.</param>
    /// <param name="options">The recipe.</param>
    /// <param name="progress">Receives progress every few steps and at each epoch's end.</param>
    /// <param name="cancellation">Stops within one step; the best model so far is returned (see <see cref="TrainingResult.Cancelled"/>).</param>
    /// <param name="beforeEachStep">Called before every step; an exception it throws ends the run (ML.NET's host checks, which abort).</param>
    public static TrainingResult Fit(ImageDataset train, ImageDataset? validation, VitConfig architecture, TrainingOptions options,
                                     IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default,
                                     Action? beforeEachStep = null)
    {
        options.Validate();
        CheckData(train, validation);
        var config = architecture with
        {
            ImageHeight = train.Format.Height, ImageWidth = train.Format.Width,
            InChannels = train.Format.Channels, NumClasses = train.ClassNames.Count,
        };
        config.Validate();
        if (config.Backbone is not null && options.Precision == TrainingPrecision.BFloat16)
            throw new ArgumentOutOfRangeException(nameof(options), "BFloat16 precision is not available with a pretrained backbone; use Float32.");
        if (config.Backbone is not null && options.BackboneWeights is null && options.ResumeFrom is null && options.InitialModel is null)
            throw new ArgumentException($"The model's backbone ({config.Backbone.Source}) needs its pretrained weights (BackboneWeights).",
                nameof(options));
        var normalization = options.Normalization ?? Normalization.Default(train.Format.Channels);
        normalization.Validate(train.Format.Channels);

        // Process-wide state, set once per fit (TorchSharp idiom 8).
        torch.set_num_threads(options.Threads > 0 ? options.Threads : Environment.ProcessorCount);
        torch.manual_seed(options.Seed);
        var device = TrainingDevice.Resolve(options.Device);
        MemoryEstimate.EnsureFits(config, options.BatchSize, imagesToDecode: 0, options.EmaDecay > 0, device,   // images decoded already
            options.BackboneLearningRateScale > 0, options.FeatureViews);

        var run = new Run(train, validation, config, normalization, options, device, progress, cancellation, beforeEachStep);
        return run.Execute();
    }

    private static void CheckData(ImageDataset train, ImageDataset? validation)
    {
        if (train.Count == 0) throw new InvalidOperationException("The training set is empty: there are no images to learn from.");
        int present = train.ClassCounts().Count(c => c > 0);
        if (present < 2)
            throw new InvalidOperationException($"Only one class found in the training labels ('{train.ClassNames[train.Labels[0]]}'). To " +
                $"build a multiclass classification model, the number of classes needs to be 2 or greater.");
        if (validation is null) return;
        if (validation.Count == 0) throw new InvalidOperationException("The validation set is empty; pass null to train without one.");
        if (validation.Format != train.Format)
            throw new InvalidOperationException($"The validation images are " +
                $"{validation.Format.Channels}×{validation.Format.Height}×{validation.Format.Width} but the training images are " +
                    $"{train.Format.Channels}×{train.Format.Height}×{train.Format.Width}.");
        if (!validation.ClassNames.SequenceEqual(train.ClassNames))
            throw new InvalidOperationException("The validation set's classes differ from the training set's; load it with the training " +
                "class names.");
    }

    /// <summary>Mean loss, accuracy and macro accuracy (the mean of per-class recalls over the classes present) of
    /// <paramref name="model"/> on <paramref name="data"/>, in evaluation mode.</summary>
    public static ValidationScore Evaluate(VisionTransformer model, ImageDataset data, Normalization normalization, int batchSize, Device device,
        Action? beforeEachBatch = null) =>
        Evaluate(model, new BatchLoader(data, new LoaderOptions { BatchSize = batchSize, Normalization = normalization, Workers = 1 }), data, device,
            beforeEachBatch);

    /// <summary>The same figures from <paramref name="loader"/>'s batches of <paramref name="data"/> (images, or cached features).</summary>
    private static ValidationScore Evaluate(VisionTransformer model, IBatchSource loader, ImageDataset data, Device device,
        Action? beforeEachBatch = null)
    {
        model.eval();
        using var noGrad = no_grad();
        double lossSum = 0;
        var hitsPerClass = new long[data.ClassNames.Count];
        foreach (var batch in loader.Epoch(0))
        {
            beforeEachBatch?.Invoke();
            using var scope = NewDisposeScope();
            using var owned = batch;
            var labels = batch.Labels.to(device);
            var logits = model.forward(batch.Images.to(device));
            lossSum += nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).ToDouble();
            var hitLabels = labels.masked_select(logits.argmax(-1).eq(labels)).cpu().data<long>().ToArray();
            foreach (long label in hitLabels) hitsPerClass[label]++;
        }
        var counts = data.ClassCounts();
        var present = Enumerable.Range(0, counts.Length).Where(c => counts[c] > 0).ToList();
        double macro = present.Average(c => (double)hitsPerClass[c] / counts[c]);
        return new ValidationScore(lossSum / data.Count, (double)hitsPerClass.Sum() / data.Count, macro);
    }

    /// <summary>One training run's state; Execute is the loop.</summary>
    private sealed class Run
    {
        private readonly ImageDataset train;
        private readonly ImageDataset? validation;
        private readonly VitConfig config;
        private readonly Normalization normalization;
        private readonly TrainingOptions options;
        private readonly Device device;
        private readonly IProgress<TrainingProgress>? progress;
        private readonly CancellationToken cancellation;
        private readonly Action? beforeEachStep;
        private readonly CollectionGate gate = new();   // collections between steps, not during TorchSharp's calls
        private IBatchSource? validationBatches;   // cached features with a frozen backbone; null: the images
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private readonly Stopwatch epochsClock = new();
        private readonly List<EpochMetrics> history = new();
        private CheckpointMetadata state;
        private byte[] bestWeights = Array.Empty<byte>();
        private long stepsThisRun;
        private int plannedEpochs;
        private bool shortened;

        public Run(ImageDataset train, ImageDataset? validation, VitConfig config, Normalization normalization, TrainingOptions options,
                   Device device, IProgress<TrainingProgress>? progress, CancellationToken cancellation, Action? beforeEachStep)
        {
            (this.train, this.validation, this.config, this.normalization, this.options, this.device, this.progress, this.cancellation) =
                (train, validation, config, normalization, options, device, progress, cancellation);
            this.beforeEachStep = beforeEachStep;
            state = new CheckpointMetadata { Config = config, Format = train.Format, Normalization = normalization,
                ClassNames = train.ClassNames, History = history, DataFingerprint = options.ResumeFrom is null && options.CheckpointDirectory is null
                    ? null : $"training: {train.Fingerprint()}; validation: {validation?.Fingerprint() ?? "none"}" };
        }

        public TrainingResult Execute()
        {
            if (options.CheckpointDirectory is not null) Checkpoint.RemoveStaleTemporaries(options.CheckpointDirectory);
            var model = new VisionTransformer(config);
            try
            {
                if (options.InitialModel is { } initial && options.ResumeFrom is null) InitialWeights.Apply(model, initial, train.ClassNames);
                if (options.Initialize is { } initialize && options.ResumeFrom is null) initialize(model);
                if (model.Backbone is { } backbone)
                {
                    if (options.BackboneWeights is not null && options.InitialModel is null) backbone.LoadWeights(options.BackboneWeights);
                    if (options.BackboneLearningRateScale == 0)
                        foreach (var parameter in backbone.parameters()) parameter.requires_grad = false;
                }
                return Train(model);
            }
            catch
            {
                model.Dispose();   // divergence, cancellation with nothing trained, a host abort: free the native weights
                throw;
            }
            finally
            {
                gate.Dispose();   // the process never stays in a no-GC region
            }
        }

        private TrainingResult Train(VisionTransformer model)
        {
            model.to(device);
            using var stepper = new OptimizationStep(model, options.LearningRate, options.WeightDecay, options.GradientClipNorm, options.Precision,
                RateScaleOf(model.Config));
            using var ema = options.EmaDecay > 0 ? new ModelEma(model, options.EmaDecay) : null;
            if (options.ResumeFrom is not null)
            {
                Resume(model, ema, stepper.Optimizer);
                stepper.ModelWeightsLoaded();
            }

            using var cached = FrozenBackboneFeatures(model);
            IBatchSource loader = (IBatchSource?)cached.Train ?? new BatchLoader(train, new LoaderOptions
            {
                BatchSize = options.BatchSize, Training = true, Augmentation = options.Augmentation, LabelSmoothing = options.LabelSmoothing,
                Normalization = normalization, Workers = options.LoaderWorkers, Seed = options.Seed, PinMemory = device.type == DeviceType.CUDA,
            });
            validationBatches = cached.Validation;
            int stepsPerEpoch = loader.BatchesPerEpoch;
            if (stepsPerEpoch == 0) throw new InvalidOperationException($"The training set has {train.Count} image(s), too few for a batch of two.");
            plannedEpochs = options.Epochs;
            var schedule = new LearningRateSchedule(options.LearningRate, options.MinLearningRate,
                (long)Math.Round(options.WarmupEpochs * stepsPerEpoch), (long)plannedEpochs * stepsPerEpoch);

            bool cancelled = false, stoppedEarly = false, timeUp = false;
            int firstEpoch = state.EpochsCompleted;   // after a resume, only this run's epochs time the schedule
            epochsClock.Restart();   // what came before (the frozen backbone's features, a resume) is paid once, not per epoch
            for (int epoch = state.EpochsCompleted; epoch < plannedEpochs && !cancelled && !stoppedEarly && !timeUp; epoch++)
            {
                if (cancellation.IsCancellationRequested) { cancelled = true; break; }
                var totals = TrainEpoch(epoch, model, stepper, ema, loader, schedule, stepsPerEpoch);
                cancelled = totals.Cancelled;
                if (cancelled && totals.Steps < stepsPerEpoch) break;   // a partial epoch is neither validated nor checkpointed
                timeUp = totals.TimeUp;                                   // an epoch cut by the time limit is validated as it stands
                stoppedEarly = FinishEpoch(epoch, totals, model, ema, stepper.Optimizer, stepsPerEpoch);
                schedule = FitScheduleToTimeLimit(schedule, epoch + 1, epoch + 1 - firstEpoch, stepsPerEpoch);
            }

            if (cancelled && history.Count == 0)
            {
                throw new OperationCanceledException("Training was cancelled before its first epoch ended; there is no trained model to " +
                    "return.", cancellation);
            }
            var final = ema?.Model ?? model;
            if (bestWeights.Length > 0) ModelWeights.Load(final, bestWeights, "the best epoch");
            if (!ReferenceEquals(final, model)) { ModelWeights.Load(model, ModelWeights.Save(final), "the EMA weights"); }
            model.eval();
            var classifier = new ImageClassifier(model, train.Format, normalization, train.ClassNames, history.ToArray());
            double? best = state.BestAccuracy >= 0 ? state.BestAccuracy : null;
            return new TrainingResult(classifier, state.BestEpoch, best, cancelled, stoppedEarly)
            {
                ShortenedByTimeLimit = shortened || timeUp, PlannedEpochs = plannedEpochs,
            };
        }

        /// <summary>Each parameter's share of the learning rate: the backbone's scale, and layer-wise decay when it is set.</summary>
        private Func<string, double> RateScaleOf(VitConfig config) => name =>
            name.StartsWith("patchEmbedding.backbone.", StringComparison.Ordinal) ? options.BackboneLearningRateScale
            : options.LayerDecay is { } decay ? ParameterGroups.LayerDecayScale(name, config.Depth, decay) : 1.0;

        /// <summary>Disposes the cached features of a frozen backbone's run.</summary>
        private sealed record FeatureCaches(CachedFeatures? Train, CachedFeatures? Validation) : IDisposable
        {
            public void Dispose()
            {
                Train?.Dispose();
                Validation?.Dispose();
            }
        }

        /// <summary>With a frozen pretrained backbone, every image's features once (training images in several views); else none.</summary>
        private FeatureCaches FrozenBackboneFeatures(VisionTransformer model)
        {
            if (model.Backbone is not { } backbone || options.BackboneLearningRateScale > 0) return new FeatureCaches(null, null);
            var trainFeatures = CachedFeatures.Compute(backbone, train, normalization, options.FeatureViews, options.Augmentation, options.BatchSize,
                options.LabelSmoothing, options.Seed, training: true, device, cancellation, gate.BeforeStep);
            try
            {
                var validationFeatures = validation is null ? null : CachedFeatures.Compute(backbone, validation, normalization, 1,
                    options.Augmentation, options.BatchSize, 0, options.Seed, training: false, device, cancellation, gate.BeforeStep);
                return new FeatureCaches(trainFeatures, validationFeatures);
            }
            catch
            {
                trainFeatures.Dispose();
                throw;
            }
        }

        private bool TimeUp => options.TimeLimit is { } limit && clock.Elapsed >= limit;

        /// <summary>
        /// With a time limit, plans only the epochs that the mean epoch time so far still fits, and stretches the
        /// cosine schedule over them, so the learning rate reaches its minimum before the limit. The epochs are timed from the first
        /// one's start: a one-off cost before it (the frozen backbone's features of every image) would otherwise count once per
        /// remaining epoch and cut the schedule to a fraction of what fits.
        /// </summary>
        private LearningRateSchedule FitScheduleToTimeLimit(LearningRateSchedule schedule, int epochsDone, int epochsThisRun, int stepsPerEpoch)
        {
            if (options.TimeLimit is not { } limit) return schedule;
            double secondsPerEpoch = epochsClock.Elapsed.TotalSeconds / epochsThisRun;
            int affordable = epochsDone + (int)Math.Floor((limit - clock.Elapsed).TotalSeconds / secondsPerEpoch);
            if (affordable >= plannedEpochs) return schedule;
            plannedEpochs = Math.Max(epochsDone, affordable);
            shortened = true;
            return schedule with { TotalSteps = Math.Max(schedule.WarmupSteps, (long)plannedEpochs * stepsPerEpoch) };
        }

        /// <summary>Sums over one epoch's steps.</summary>
        private sealed record EpochTotals(double LossSum, long Correct, long Seen, int Steps, double LearningRate, Stopwatch Clock,
            bool Cancelled, bool TimeUp = false);

        /// <summary>One pass over the training data; stops within one step of a cancellation.</summary>
        private EpochTotals TrainEpoch(int epoch, VisionTransformer model, OptimizationStep stepper, ModelEma? ema, IBatchSource loader,
            LearningRateSchedule schedule, int stepsPerEpoch)
        {
            torch.manual_seed(options.Seed * 7919L + epoch);   // dropout and drop-path: repeatable per epoch, so resume is exact
            var clock = Stopwatch.StartNew();
            double lossSum = 0, lr = 0;
            long correct = 0, seen = 0;
            int step = 0;
            model.train();
            try
            {
                foreach (var batch in loader.Epoch(epoch, cancellation))
                {
                    using var owned = batch;
                    beforeEachStep?.Invoke();
                    lr = schedule.At(state.Step);
                    double loss;
                    long hits;
                    gate.BeforeStep();
                    using (NewDisposeScope())
                    {
                        (loss, hits) = stepper.Run(batch.Images.to(device, non_blocking: true),
                            batch.Targets!.to(device, non_blocking: true), batch.Labels.to(device), lr);
                        ema?.Update(model, state.Step);
                    }
                    if (!double.IsFinite(loss)) throw Diverged(epoch, step, loss);
                    lossSum += loss * batch.Count; correct += hits; seen += batch.Count; step++; stepsThisRun++;
                    state = state with { Step = state.Step + 1 };
                    if (step % options.ProgressInterval == 0 && step < stepsPerEpoch)
                        Report(epoch, step, stepsPerEpoch, lr, lossSum / seen, (double)correct / seen, seen / clock.Elapsed.TotalSeconds,
                            null, epochCompleted: false);
                    if (cancellation.IsCancellationRequested) return new EpochTotals(lossSum, correct, seen, step, lr, clock, Cancelled: true);
                    if (TimeUp && step < stepsPerEpoch) return new EpochTotals(lossSum, correct, seen, step, lr, clock, Cancelled: false,
                        TimeUp: true);
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                return new EpochTotals(lossSum, correct, seen, step, lr, clock, Cancelled: true);   // cancelled while waiting for a batch
            }
            return new EpochTotals(lossSum, correct, seen, step, lr, clock, Cancelled: false);
        }

        /// <summary>Validates, keeps the best weights, writes checkpoints and reports; returns true when early stopping ends the run.</summary>
        private bool FinishEpoch(int epoch, EpochTotals totals, VisionTransformer model, ModelEma? ema, AdamW optimizer, int stepsPerEpoch)
        {
            var evaluated = ema?.Model ?? model;
            ValidationScore? score = validation is null ? null : validationBatches is not null
                ? Evaluate(evaluated, validationBatches, validation, device, gate.BeforeStep)
                : Evaluate(evaluated, validation, normalization, options.BatchSize, device, gate.BeforeStep);
            double loss = totals.LossSum / totals.Seen, accuracy = (double)totals.Correct / totals.Seen,
                imagesPerSecond = totals.Seen / totals.Clock.Elapsed.TotalSeconds;
            var metrics = new EpochMetrics(epoch + 1, loss, accuracy, score?.Loss, score?.Accuracy, totals.LearningRate,
                totals.Clock.Elapsed.TotalSeconds) { ValidationMacroAccuracy = score?.MacroAccuracy };
            history.Add(metrics);
            bool stop = Select(evaluated, metrics);
            SaveCheckpoints(model, ema, optimizer);
            Report(epoch, totals.Steps, stepsPerEpoch, totals.LearningRate, loss, accuracy, imagesPerSecond, score, epochCompleted: true);
            return stop;
        }

        /// <summary>Keeps the best weights; returns true when early stopping should end the run.</summary>
        private bool Select(VisionTransformer evaluated, EpochMetrics metrics)
        {
            double accuracy = metrics.ValidationAccuracy ?? -1;
            // A tie in accuracy goes to the lower validation loss: on a small validation set many epochs reach the same accuracy
            // (all of 25 photos from epoch 3 on), and the first of them is rarely the best model.
            bool improved = metrics.ValidationAccuracy is null || accuracy > state.BestAccuracy ||
                (accuracy == state.BestAccuracy && metrics.ValidationLoss < state.BestValidationLoss);
            if (improved)
            {
                bestWeights = ModelWeights.Save(evaluated);
                state = state with { BestAccuracy = accuracy, BestValidationLoss = metrics.ValidationLoss, BestEpoch = metrics.Epoch,
                    EpochsWithoutImprovement = 0 };
            }
            else
                state = state with { EpochsWithoutImprovement = state.EpochsWithoutImprovement + 1 };
            state = state with { EpochsCompleted = metrics.Epoch, History = history.ToArray() };
            return options.EarlyStoppingPatience > 0 && validation is not null && state.EpochsWithoutImprovement >= options.EarlyStoppingPatience;
        }

        private void SaveCheckpoints(VisionTransformer model, ModelEma? ema, AdamW optimizer)
        {
            if (options.CheckpointDirectory is null) return;
            using var optimizerState = new MemoryStream();
            using (var writer = new BinaryWriter(optimizerState, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(writer);
            var emaWeights = ema is null ? Array.Empty<byte>() : ModelWeights.Save(ema.Model);
            Checkpoint.Write(Path.Combine(options.CheckpointDirectory, "last.ckpt"),
                new Checkpoint.Contents(state, ModelWeights.Save(model), bestWeights, emaWeights, optimizerState.ToArray()));
            if (state.BestEpoch == state.EpochsCompleted)
                Checkpoint.Write(Path.Combine(options.CheckpointDirectory, "best.ckpt"),
                    new Checkpoint.Contents(state, bestWeights, Array.Empty<byte>(), Array.Empty<byte>(), Array.Empty<byte>()));
        }

        private void Resume(VisionTransformer model, ModelEma? ema, AdamW optimizer)
        {
            var saved = Checkpoint.Read(options.ResumeFrom!);
            var m = saved.Metadata;
            if (m.Config != config)
                throw new InvalidOperationException($"Checkpoint '{options.ResumeFrom}' was trained with a different model configuration; " +
                    $"resume with the same preset, image size and position encoding.");
            if (!m.ClassNames.SequenceEqual(train.ClassNames))
                throw new InvalidOperationException($"Checkpoint '{options.ResumeFrom}' has classes [{string.Join(", ", m.ClassNames)}], " +
                    $"not the training set's [{string.Join(", ", train.ClassNames)}].");
            if (m.DataFingerprint is { } recorded && state.DataFingerprint is { } current && recorded != current)
                throw new InvalidOperationException($"Checkpoint '{options.ResumeFrom}' was trained on other images: it records {recorded}; " +
                    $"this run has {current}. Resume with the same images (and validation split), or start a new run.");
            ModelWeights.Load(model, saved.Weights, options.ResumeFrom!);
            if (ema is not null) ModelWeights.Load(ema.Model, saved.EmaWeights.Length > 0 ? saved.EmaWeights : saved.Weights, options.ResumeFrom!);
            if (saved.OptimizerState.Length > 0)
                using (var reader = new BinaryReader(new MemoryStream(saved.OptimizerState))) optimizer.load_state_dict(reader);
            bestWeights = saved.BestWeights;
            history.AddRange(m.History);
            state = m with { History = history.ToArray(), DataFingerprint = state.DataFingerprint };
        }

        private InvalidOperationException Diverged(int epoch, int step, double loss)
        {
            string kept = options.CheckpointDirectory is null
                ? "Set CheckpointDirectory to keep the last good epoch on disk."
                : $"The last good checkpoint is kept in '{Path.Combine(options.CheckpointDirectory, "last.ckpt")}'.";
            string advice = options.GradientClipNorm > 0
                ? $"Lower the LearningRate (gradient clipping at {options.GradientClipNorm} is already on) or check the pixel Normalization."
                : "Lower the LearningRate or enable GradientClipNorm.";
            return new InvalidOperationException($"Training diverged: the loss became {loss} at epoch {epoch + 1}, step {step + 1}. {advice} {kept}");
        }

        private void Report(int epoch, int step, int stepsPerEpoch, double lr, double loss, double accuracy, double imagesPerSecond,
                            ValidationScore? score, bool epochCompleted)
        {
            if (progress is null) return;
            long remainingSteps = (long)plannedEpochs * stepsPerEpoch - ((long)epoch * stepsPerEpoch + step);
            var elapsed = clock.Elapsed;
            var remaining = TimeSpan.FromSeconds(elapsed.TotalSeconds / Math.Max(1, stepsThisRun) * Math.Max(0, remainingSteps));
            progress.Report(new TrainingProgress
            {
                Epoch = epoch + 1, Epochs = plannedEpochs, Step = step, StepsPerEpoch = stepsPerEpoch, LearningRate = lr,
                TrainLoss = loss, TrainAccuracy = accuracy, ValidationLoss = score?.Loss, ValidationAccuracy = score?.Accuracy,
                ValidationMacroAccuracy = score?.MacroAccuracy,
                ImagesPerSecond = imagesPerSecond, Elapsed = elapsed, EstimatedRemaining = remaining, EpochCompleted = epochCompleted,
            });
        }
    }
}
