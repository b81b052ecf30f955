using System.CommandLine;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2.Data;
using Microsoft.ML.SaPE2.Explain;
using Microsoft.ML.SaPE2;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>The commands that use a saved model.zip: evaluate, predict, explain, info.</summary>
internal static class ModelCommands
{
    private static Option<string> ModelOption() =>
        new("--model") { Description = "A model.zip written by 'sape2 train'.", DefaultValueFactory = _ =>
            Path.Combine("sape2-output", "model.zip") };

    public static Command Evaluate(Option<bool> verbose)
    {
        var model = ModelOption();
        var data = new Option<string>("--data") { Description = "Image folder with one sub-folder per class (the model's classes).",
            Required = true };
        var command = new Command("evaluate",
            "Score a labelled image folder and print ML.NET's multiclass metrics and a confusion matrix.") { model, data };
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            using var loaded = LoadedModel.Open(parse.GetValue(model)!);
            var rows = ImageRows.FromFolder(parse.GetValue(data)!);
            Report.Metrics(EvaluateRows(loaded, rows), loaded.Sape2.ClassNames, $"{rows.Count} images of {parse.GetValue(data)}");
            return 0;
        }));
        return command;
    }

    /// <summary>ML.NET's multiclass metrics of <paramref name="loaded"/> on labelled <paramref name="rows"/> (read from their files).</summary>
    internal static MulticlassClassificationMetrics EvaluateRows(LoadedModel loaded, IReadOnlyList<ImageRow> rows)
    {
        var classes = loaded.Sape2.ClassNames;
        var unknown = rows.Select(r => r.Label).Distinct().Where(l => !classes.Contains(l)).ToList();
        if (unknown.Count > 0) throw new InvalidOperationException($"Folder classes [{string.Join(", ", unknown)}] are not among the " +
            $"model's classes [{string.Join(", ", classes)}].");
        if (loaded.Input.LabelColumn is null) throw new InvalidOperationException($"Model '{loaded.Path}' was saved without its label " +
            $"column '{loaded.Sape2.LabelColumnName}' in the input schema, so its labels cannot be scored; save it with the training data's schema.");
        var view = loaded.Input.Rows(loaded.Context, rows, classes);
        try
        {
            return loaded.Context.MulticlassClassification.Evaluate(loaded.Model.Transform(view), loaded.Sape2.LabelColumnName,
                loaded.Sape2.ScoreColumnName, loaded.Sape2.PredictedLabelColumnName);
        }
        catch (Exception e) when (ImageRows.WithFileName(e, null, rows) is var named && named != e)
        {
            throw named;
        }
    }

    public static Command Predict(Option<bool> verbose)
    {
        var model = ModelOption();
        var inputs = new Argument<string[]>("images") { Description = "Image files or folders of images.", Arity = ArgumentArity.OneOrMore };
        var top = new Option<int>("--top") { Description = "How many classes to show per image.", DefaultValueFactory = _ => 3 };
        var command = new Command("predict", "Classify images and show the top classes with their probabilities.") { model, inputs, top };
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            using var loaded = LoadedModel.Open(parse.GetValue(model)!);
            var files = parse.GetValue(inputs)!.SelectMany(Expand).ToList();
            if (files.Count == 0) throw new InvalidOperationException($"No images ({string.Join(", ", ImageFolder.ImageExtensions)}) in " +
                $"{string.Join(", ", parse.GetValue(inputs)!.Select(p => $"'{p}'"))}.");
            var rows = ImageRows.FromFiles(files, loaded.Sape2.Classifier.Format.MaxPixels);
            var view = loaded.Input.Rows(loaded.Context, rows, loaded.Sape2.ClassNames);
            List<float[]> scores;
            try
            {
                scores = loaded.Model.Transform(view).GetColumn<float[]>(loaded.Sape2.ScoreColumnName).ToList();
            }
            catch (Exception e) when (ImageRows.WithFileName(e, null, rows) is var named && named != e)
            {
                throw named;
            }
            int k = Math.Clamp(parse.GetValue(top), 1, loaded.Sape2.ClassNames.Count);
            var table = new Table().AddColumn("image").AddColumns(Enumerable.Range(1, k).Select(i => $"#{i}").ToArray());
            for (int i = 0; i < files.Count; i++)
            {
                var best = scores[i].Select((p, c) => (p, c)).OrderByDescending(x => x.p).Take(k);
                table.AddRow(best.Select(b =>
                    $"{Markup.Escape(loaded.Sape2.ClassNames[b.c])} {b.p:P1}").Prepend(Markup.Escape(Path.GetFileName(files[i]))).ToArray());
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    public static Command Explain(Option<bool> verbose)
    {
        var model = ModelOption();
        var image = new Option<string>("--image") { Description = "The image to explain.", Required = true };
        var patch = new Option<string?>("--patch") { Description = "Reference patch as ROW,COLUMN for the SaPE² bias map (default: the centre)." };
        var output = new Option<string>("--out") { Description = "Folder for the pictures.", DefaultValueFactory = _ => "sape2-output" };
        var command = new Command("explain",
            "Draw the SaPE² bias map of a patch and the CLS attention, per layer and head, over an image.") { model, image, patch, output };
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            using var loaded = LoadedModel.Open(parse.GetValue(model)!);
            string file = parse.GetValue(image)!;
            if (!File.Exists(file)) throw new FileNotFoundException($"Image '{file}' does not exist.");
            var classifier = loaded.Sape2.Classifier;
            var pixels = ImageDecoder.Decode(File.ReadAllBytes(file), classifier.Format, file);
            var config = classifier.Config;
            var (row, column) = (config.GridHeight / 2, config.GridWidth / 2);
            if (parse.GetValue(patch) is { } text)
            {
                var parts = text.Split(',');
                if (parts.Length != 2 || !int.TryParse(parts[0], out row) || !int.TryParse(parts[1], out column))
                    throw new ArgumentException($"--patch must be ROW,COLUMN (e.g. 3,4); got '{text}'.");
            }
            var written = AttentionPictures.Render(classifier, pixels, row, column, parse.GetValue(output)!);
            AnsiConsole.MarkupLine($"Wrote {string.Join(", ", written.Select(Markup.Escape))}");
            return 0;
        }));
        return command;
    }

    public static Command Info(Option<bool> verbose)
    {
        var model = ModelOption();
        var command = new Command("info", "Show what a model.zip holds: classes, architecture, position encoding, training figures.") { model };
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            using var loaded = LoadedModel.Open(parse.GetValue(model)!);
            var s = loaded.Sape2;
            var c = s.Architecture;
            var table = new Table().AddColumns("property", "value");
            table.AddRow("file", Markup.Escape($"{parse.GetValue(model)} ({new FileInfo(parse.GetValue(model)!).Length / 1048576.0:F1} MiB)"));
            table.AddRow("classes", Markup.Escape($"{s.ClassNames.Count}: {string.Join(", ", s.ClassNames)}"));
            table.AddRow("input",
                $"{c.ImageHeight}×{c.ImageWidth}×{c.InChannels}, {c.Tokenizer} tokenizer, {c.PatchSize} px a token " +
                    $"({c.GridHeight}×{c.GridWidth} grid)");
            if (c.Backbone is { } backbone)
                table.AddRow("backbone", Markup.Escape($"{backbone.Source}: {backbone.OutputChannels} channels a token, " +
                    $"{Microsoft.ML.SaPE2.Training.MemoryEstimate.BackboneWeightCount(backbone) / 1e6:F1} M values, " +
                    $"sha256 {backbone.Sha256[..12]}…"));
            table.AddRow("architecture", $"dim {c.EmbedDim}, depth {c.Depth}, heads {c.NumHeads}, {c.Pooling}, {c.Initialization} initialisation");
            string sape2Details = c.PositionEncoding == Microsoft.ML.SaPE2.PositionEncodingKind.Sape2
                ? $", {c.Sape2Mode} mode, M = {c.EffectiveSape2TableSize}, σ = {(c.Sape2BiasSign > 0 ? "+1" : "−1")}" : "";
            table.AddRow("position encoding", $"{c.PositionEncoding}{(c.AbsolutePosition ? " + APE" : "")}{sape2Details}");
            table.AddRow("columns", Markup.Escape($"{s.FeatureColumnName} → {s.ScoreColumnName}, {s.PredictedLabelColumnName}"));
            if (s.TrainingHistory.Count > 0)
            {
                var last = s.TrainingHistory[^1];
                var validated = s.TrainingHistory.Where(h => h.ValidationAccuracy is not null).ToList();
                string best = validated.Count > 0
                    ? validated.Max(h => h.ValidationAccuracy!.Value).ToString("P1") : "n/a (trained without validation)";
                table.AddRow("training",
                    $"{s.TrainingHistory.Count} epochs; last: train loss {last.TrainLoss:F3}, acc {last.TrainAccuracy:P1}; best validation " +
                        $"acc {best}");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static IEnumerable<string> Expand(string path)
    {
        if (Directory.Exists(path))
            return Directory.GetFiles(path, "*", SearchOption.AllDirectories).Where(f =>
                ImageFolder.ImageExtensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal);
        if (File.Exists(path)) return new[] { path };
        throw new FileNotFoundException($"'{path}' is neither an image file nor a folder.");
    }

    /// <summary>A model.zip loaded with a fresh MLContext, with its SaPE² transformer found and the input it expects.</summary>
    internal sealed class LoadedModel : IDisposable
    {
        private LoadedModel(string path, MLContext context, ITransformer model, DataViewSchema inputSchema, Sape2ImageClassificationTransformer sape2,
            ModelInput input) => (Path, Context, Model, InputSchema, Sape2, Input) = (path, context, model, inputSchema, sape2, input);

        public string Path { get; }
        public MLContext Context { get; }
        public ITransformer Model { get; }
        /// <summary>The input schema the model was saved with.</summary>
        public DataViewSchema InputSchema { get; }
        public Sape2ImageClassificationTransformer Sape2 { get; }
        public ModelInput Input { get; }

        public static LoadedModel Open(string path)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"Model '{path}' does not exist. Train one with 'sape2 train' or pass --model.");
            var context = new MLContext();
            var model = context.Model.LoadSape2Model(path, out var inputSchema);
            var transformers = (model as IEnumerable<ITransformer> ?? new[] { model }).ToList();
            var sape2 = transformers.OfType<Sape2ImageClassificationTransformer>().FirstOrDefault();
            if (sape2 is null)
            {
                string holds = string.Join(" → ", transformers.Select(t => t.GetType().Name));
                (model as IDisposable)?.Dispose();
                throw new InvalidOperationException($"Model '{path}' holds no SaPE² image classifier (it holds {holds}); this tool scores " +
                    "models written by 'sape2 train', 'sweep' or an ML.NET pipeline with Sape2ImageClassification.");
            }
            try
            {
                return new LoadedModel(path, context, model, inputSchema, sape2,
                    ModelInput.Of(inputSchema, sape2.FeatureColumnName, sape2.LabelColumnName, path));
            }
            catch
            {
                (model as IDisposable)?.Dispose();
                throw;
            }
        }

        public void Dispose() => (Model as IDisposable)?.Dispose();
    }
}
