using System.CommandLine;
using Microsoft.ML;
using Spectre.Console;

namespace Sape2.Cli;

/// <summary>`sape2 export` and `sape2 import`: a model to ONNX (Docs/onnx.md), and its weights to and from a safetensors file with
/// timm's names (Docs/pytorch-interop.md).</summary>
internal static class InteropCommands
{
    public static Command Export(Option<bool> verbose)
    {
        var model = new Option<string>("--model") { Description = "A model.zip written by 'sape2 train'.", Required = true };
        var safetensors = new Option<string>("--safetensors") { Description = "The safetensors file to write (timm's parameter names)." };
        var onnx = new Option<string>("--onnx") { Description = "The ONNX model to write: raw 0–255 pixels in, class probabilities out " +
            "(Docs/onnx.md)." };
        var force = OutputFiles.ForceOption();
        var command = new Command("export", "Write a model as ONNX, for ONNX Runtime, and/or its weights as safetensors with timm's " +
            "parameter names, for PyTorch.") { model, onnx, safetensors, force };
        command.Validators.Add(result =>
        {
            if (result.GetValue(onnx) is null && result.GetValue(safetensors) is null)
                result.AddError("Say what to write: --onnx FILE, --safetensors FILE, or both.");
        });
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            OutputFiles.Check([("--model", parse.GetValue(model))],
                [("--onnx", parse.GetValue(onnx)), ("--safetensors", parse.GetValue(safetensors))], parse.GetValue(force));
            using var loaded = ModelCommands.LoadedModel.Open(parse.GetValue(model)!);
            if (parse.GetValue(onnx) is { } onnxPath)
            {
                Sape2Onnx.Export(loaded.Model, onnxPath);
                AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(onnxPath)}[/].");
            }
            if (parse.GetValue(safetensors) is { } weightsPath)
            {
                loaded.Context.Model.SaveSafetensors(loaded.Model, weightsPath);
                AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(weightsPath)}[/].");
            }
            return 0;
        }));
        return command;
    }

    public static Command Import(Option<bool> verbose)
    {
        var model = new Option<string>("--model") { Description = "The model.zip whose architecture, classes and columns the weights fit.",
            Required = true };
        var safetensors = new Option<string>("--safetensors") { Description = "Weights written by 'sape2 export' or by PyTorch with the same " +
            "names.", Required = true };
        var output = new Option<string>("--out") { Description = "The model.zip to write: --model with the imported weights.", Required = true };
        var force = OutputFiles.ForceOption();
        var command = new Command("import", "Put safetensors weights (e.g. trained in PyTorch) into a model.zip of the same architecture.")
            { model, safetensors, output, force };
        command.SetAction(parse => Guard.Run(parse.GetValue(verbose), () =>
        {
            string path = parse.GetValue(model)!;
            OutputFiles.Check([("--model", path), ("--safetensors", parse.GetValue(safetensors))], [("--out", parse.GetValue(output))],
                parse.GetValue(force));
            using var loaded = ModelCommands.LoadedModel.Open(path);
            var imported = loaded.Context.Model.LoadSafetensors(loaded.Model, parse.GetValue(safetensors)!);
            try
            {
                ToolData.SaveModel(loaded.Context, imported, loaded.InputSchema, parse.GetValue(output)!);
            }
            finally
            {
                (imported as IDisposable)?.Dispose();
            }
            AnsiConsole.MarkupLine($"Wrote [green]{Markup.Escape(parse.GetValue(output)!)}[/].");
            return 0;
        }));
        return command;
    }
}
