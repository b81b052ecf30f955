using System.CommandLine;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Explain;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Training;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>`sape2 train`: the main job. With no input it trains on the embedded Fashion-MNIST subset.</summary>
internal static class TrainCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var defaults = new Sape2ImageClassificationTrainer.Options();   // one source of truth: the flags show the trainer's defaults
        var inputs = new InputOptions(defaults.MaxPixels);
        var output = new Option<string>("--out") { Description = "Folder for model.zip and the pictures.", DefaultValueFactory = _ =>
            "sape2-output" };
        var preset = new Option<VitPreset?>("--preset") { Description = "Model size: Micro, Tiny or Small (default: automatic)." };
        var tokenizer = new Option<TokenizerKind?>("--tokenizer") { Description = "Patch (the paper's linear patches) or Convolutional " +
            "(default: automatic)." };
        var pooling = new Option<PoolingKind?>("--pooling") { Description = "ClassToken (the paper), GlobalAverage or SequencePooling " +
            "(default: automatic)." };
        var init = new Option<WeightInitialization?>("--init") { Description = "TruncatedNormal (the paper) or PyTorchDefault (default: " +
            "automatic)." };
        var time = new Option<double?>("--time") { Description = "Training time budget in seconds; the best model so far is kept when it ends." };
        var encoding = new Option<PositionEncodingKind>("--encoding") { Description = "Position encoding: None, Absolute, Sincos2D, " +
            "RopeAxial, RopeMixed, Cope, Sape2.", DefaultValueFactory = _ => defaults.PositionEncoding };
        var noApe = new Option<bool>("--no-ape") { Description = "Do not add the learned absolute embedding to RoPE, CoPE or SaPE²." };
        var mode = new Option<Sape2Mode>("--mode") { Description = "SaPE² mode: Key or Query.", DefaultValueFactory = _ => defaults.Sape2Mode };
        var imageSize = new Option<int?>("--image-size") { Description = "Input side in pixels (default: the images' median side, at most " +
            "32 on a CPU)." };
        var patch = new Option<int?>("--patch") { Description = "Pixels per token: patch side, or the convolutional tokenizer's stride " +
            "(default: automatic)." };
        var channels = new Option<int?>("--channels") { Description = "1 (grayscale) or 3 (RGB) (default: 1 when the images are grayscale)." };
        var epochs = new Option<int?>("--epochs") { Description = "Passes over the training data (default: automatic, from the number of images)." };
        var batch = new Option<int?>("--batch") { Description = "Images per step (default: automatic)." };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (default: automatic)." };
        var augment = new Option<string?>("--augment") { Description = "light (crop and flip), full (DeiT recipe: RandAugment, " +
            "Mixup/CutMix) or none (default: automatic)." };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => defaults.Device };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: one per core).", DefaultValueFactory = _ => defaults.Threads };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW weight decay on weight matrices.",
            DefaultValueFactory = _ => defaults.WeightDecay };
        var warmup = new Option<double?>("--warmup") { Description = "Epochs of linear warm-up (default: automatic)." };
        var smoothing = new Option<double?>("--label-smoothing") { Description = "Label smoothing (default: automatic)." };
        var ema = new Option<double>("--ema") { Description = "Weight EMA decay, e.g. 0.999 (0: off).", DefaultValueFactory = _
            => defaults.EmaDecay };
        var clip = new Option<double>("--clip") { Description = "Gradient clipping norm (0: off).", DefaultValueFactory = _
            => defaults.GradientClipNorm };
        var patience = new Option<int>("--patience") { Description = "Early-stopping patience in epochs (0: off).", DefaultValueFactory = _
            => defaults.EarlyStoppingPatience };
        var checkpoints = new Option<string?>("--checkpoints") { Description = "Folder for last.ckpt and best.ckpt after every epoch." };
        var resume = new Option<string?>("--resume") { Description = "Continue an interrupted run from the last.ckpt in this folder " +
            "(written with --checkpoints); pass the same data and options. Checkpoints go on being written there." };
        var keepAspect = new Option<bool>("--keep-aspect") { Description = "Centre-crop images to the model's aspect before resizing." };
        var recipe = new Option<string?>("--recipe") { Description = "paper (the paper's CIFAR setting: ViT-S/4 at 32×32, CLS token, Adam " +
            "without weight decay, crop and flip, 400 epochs of batch 128) or deit (the same with DeiT's AdamW 0.05, RandAugment, " +
            "Mixup/CutMix, label smoothing 0.1). Flags given as well win." };
        var command = new Command("train", "Train a model, evaluate it on held-out images, save model.zip and pictures.")
        {
            output, preset, tokenizer, pooling, init, time, encoding, noApe, mode, imageSize, patch, channels, epochs, batch, lr, augment, device,
                seed, threads, weightDecay, warmup, smoothing, ema, clip, patience, checkpoints, resume, keepAspect, recipe,
        };
        inputs.AddTo(command);
        augment.AcceptOnlyFromAmong("light", "full", "none");
        recipe.AcceptOnlyFromAmong(Recipes.Names);
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            var (train, test) = inputs.Load(parse);
            var options = new Sape2ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label", FeatureColumnName = "Image", Preset = parse.GetValue(preset), Tokenizer = parse.GetValue(tokenizer),
                Pooling = parse.GetValue(pooling), Initialization = parse.GetValue(init), TrainingTimeInSeconds = parse.GetValue(time),
                PositionEncoding = parse.GetValue(encoding), AbsolutePosition = !parse.GetValue(noApe), Sape2Mode = parse.GetValue(mode),
                ImageSize = parse.GetValue(imageSize), PatchSize = parse.GetValue(patch),
                Channels = parse.GetValue(channels), Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(batch),
                LearningRate = parse.GetValue(lr), WarmupEpochs = parse.GetValue(warmup), LabelSmoothing = parse.GetValue(smoothing),
                WeightDecay = parse.GetValue(weightDecay), EmaDecay = parse.GetValue(ema), GradientClipNorm = parse.GetValue(clip),
                EarlyStoppingPatience = parse.GetValue(patience), CheckpointDirectory = parse.GetValue(checkpoints),
                ResumeFrom = parse.GetValue(resume),
                KeepAspectByCenterCrop = parse.GetValue(keepAspect), MaxPixels = parse.GetValue(inputs.MaxPixels),
                Augmentation = parse.GetValue(augment) switch
                {
                    "none" => AugmentationOptions.None,
                    "full" => new AugmentationOptions(),
                    "light" => AugmentationOptions.None with { RandomCropPadding = 2, HorizontalFlip = true },
                    _ => null,
                },
                Device = parse.GetValue(device)!, Seed = parse.GetValue(seed), Threads = parse.GetValue(threads),
            };
            if (parse.GetValue(recipe) is { } named)
                Recipes.Apply(named, options, flag => parse.GetResult(command.Options.Single(o => o.Name == flag)) is { Implicit: false });
            return Train(train, test, options, parse.GetValue(output)!);
        }));
        return command;
    }

    private static int Train(List<ImageRow> trainRows, List<ImageRow> testRows, Sape2ImageClassificationTrainer.Options options, string output)
    {
        Directory.CreateDirectory(output);
        var ml = new MLContext(seed: options.Seed);
        var data = ToolData.Prepare(ml, trainRows, testRows);
        var trainView = data.Train;
        options.ValidationSet = data.Validation;
        options.ValidationSetFraction = null;   // the tool's own split, the same for every run of a folder
        AnsiConsole.MarkupLine($"[bold]SaPE² ViT[/] {options.PositionEncoding}{(options.AbsolutePosition ? "+APE" : "")} · {data.TrainCount} " +
            $"training / {data.ValidationCount} validation / {data.TestCount} test images · {data.Classes} classes");
        // The trainer logs the configuration it chose (and why) through MLContext.Log; show those lines.
        ml.Log += (_, e) =>
        {
            if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info
                && e.RawMessage.StartsWith("SaPE² trainer: ", StringComparison.Ordinal) && !e.RawMessage.Contains(" training images, "))
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(e.RawMessage["SaPE² trainer: ".Length..])}[/]");
        };

        ITransformer model = null!;
        MulticlassClassificationMetrics metrics;
        try
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new RemainingTimeColumn())
                .Start(context =>
                {
                    var task = context.AddTask("starting", maxValue: 1);
                    options.Progress = new SynchronousProgress(p =>
                    {
                        task.MaxValue = (double)p.Epochs * p.StepsPerEpoch;
                        task.Value = (double)(p.Epoch - 1) * p.StepsPerEpoch + p.Step;
                        task.Description = $"epoch {p.Epoch}/{p.Epochs} · loss {p.TrainLoss:F3} · acc {p.TrainAccuracy:P0} · " +
                            $"{p.ImagesPerSecond:F0} img/s · ETA {p.EstimatedRemaining:mm\\:ss}";
                        if (p.EpochCompleted)
                            AnsiConsole.MarkupLine($"epoch {p.Epoch,3}: train loss {p.TrainLoss:F3}, acc {p.TrainAccuracy:P1} · validation loss " +
                                $"{p.ValidationLoss:F3}, acc {p.ValidationAccuracy:P1} · {p.ImagesPerSecond:F0} images/s");
                    });
                    model = ml.MulticlassClassification.Trainers.Sape2ImageClassification(options)
                        .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel"))
                        .Fit(trainView);
                });
            metrics = ml.MulticlassClassification.Evaluate(model.Transform(data.Test));
        }
        catch (Exception e) when (data.WithFileName(e) is var named && named != e)
        {
            (model as IDisposable)?.Dispose();
            throw named;
        }
        var sape2 = ((IEnumerable<ITransformer>)model).OfType<Sape2ImageClassificationTransformer>().Single();
        Report.Metrics(metrics, sape2.ClassNames, $"held-out test set ({testRows.Count} images)");

        string zip = Path.Combine(output, "model.zip");
        ToolData.SaveModel(ml, model, data.InputSchema, zip);
        var pictures = new List<string> { Path.Combine(output, "training-curves.png"), Path.Combine(output, "confusion-matrix.png") };
        TrainingCurves.Render(sape2.TrainingHistory, pictures[0]);
        ConfusionMatrixImage.Render(Report.Counts(metrics.ConfusionMatrix), sape2.ClassNames, pictures[1]);
        var first = testRows[0].ModelPixels(sape2.Classifier.Format);
        var grid = sape2.Architecture;
        pictures.AddRange(AttentionPictures.Render(sape2.Classifier, first, grid.GridHeight / 2, grid.GridWidth / 2, output));
        AnsiConsole.MarkupLine($"Saved [green]{zip}[/] and pictures: {string.Join(", ", pictures.Select(Path.GetFileName))} (explained " +
            $"image: {Markup.Escape(Path.GetFileName(testRows[0].Source))}).");
        ((IDisposable)model).Dispose();
        return 0;
    }
}
