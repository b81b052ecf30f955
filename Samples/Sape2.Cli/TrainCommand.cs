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
        var inputs = new InputOptions(Sape2ImageClassificationTrainer.Defaults.MaxPixels);
        var output = new Option<string>("--out") { Description = "Folder for model.zip and the pictures.", DefaultValueFactory = _ =>
            "sape2-output" };
        var checkpoints = new Option<string?>("--checkpoints") { Description = "Folder for last.ckpt and best.ckpt after every epoch." };
        var resume = new Option<string?>("--resume") { Description = "Continue an interrupted run from the last.ckpt in this folder " +
            "(written with --checkpoints); pass the same data and options. Checkpoints go on being written there." };
        var flags = new TrainerFlags();
        var command = new Command("train", "Train a model, evaluate it on held-out images, save model.zip and pictures.")
        {
            output, checkpoints, resume,
        };
        flags.AddTo(command);
        inputs.AddTo(command);
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            var (train, test) = inputs.Load(parse);
            var options = flags.Options(parse, parse.GetValue(inputs.MaxPixels));
            options.CheckpointDirectory = parse.GetValue(checkpoints);
            options.ResumeFrom = parse.GetValue(resume);
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
