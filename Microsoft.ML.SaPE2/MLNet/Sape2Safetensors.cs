using System.Text.Json;
using Microsoft.ML.Data;
using Microsoft.ML.SaPE2;
using Microsoft.ML.SaPE2.Interop;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Training;
using static TorchSharp.torch;

namespace Microsoft.ML;

/// <summary>
/// A SaPE² model's weights as a safetensors file with timm's parameter names (Docs/pytorch-interop.md): to train or
/// fine-tune in PyTorch and bring the weights back into an ML.NET model.
/// </summary>
public static class Sape2Safetensors
{
    /// <summary>
    /// Writes the weights of the SaPE² classifier in <paramref name="model"/> to <paramref name="path"/>: every parameter and buffer
    /// under timm's name (patch_embed.proj, cls_token, pos_embed, blocks.N.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2, norm,
    /// head; attn.sape2.table_x/table_y, attn.cope.table, attn.rope.freqs for the encodings timm lacks), float32 as trained, and the
    /// architecture and class names in the file's metadata. A 2D sin-cos model's fixed table is written as pos_embed, so an APE, sin-cos
    /// or no-encoding model loads into timm's VisionTransformer with <c>strict=True</c>. The file is written through a temporary file.
    /// </summary>
    public static void SaveSafetensors(this ModelOperationsCatalog catalog, ITransformer model, string path)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrEmpty(path);
        Save(Sape2ImageClassificationTransformer.FindIn(model).SingleNetwork("A safetensors file"), path);
    }

    /// <summary><see cref="SaveSafetensors"/> of the classifier itself.</summary>
    internal static void Save(ImageClassifier classifier, string path)
    {
        var entries = classifier.Model.state_dict().Select(p => SafetensorsFile.Entry(TimmNames.ToTimm(p.Key), p.Value)).ToList();
        if (classifier.Config.PositionEncoding == PositionEncodingKind.Sincos2D)
            entries.Insert(0, SafetensorsFile.Entry("pos_embed", classifier.Model.TokenPositionTable()));
        var metadata = InteropMetadata.Of(classifier);
        metadata["format"] = "pt";
        SafetensorsFile.Write(path, entries, metadata);
    }

    /// <summary>
    /// A copy of <paramref name="model"/> whose SaPE² classifier has the weights of the safetensors file <paramref name="path"/> (written by
    /// <see cref="SaveSafetensors"/> or by PyTorch with the same names); columns, classes and everything else come from
    /// <paramref name="model"/>, whose other transformers the copy shares. The file must hold exactly the model's tensors with its
    /// shapes: a missing, extra or mis-shaped tensor, another architecture or other classes in its metadata are refused, naming the
    /// tensor and both shapes.
    /// </summary>
    public static ITransformer LoadSafetensors(this ModelOperationsCatalog catalog, ITransformer model, string path)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var template = Sape2ImageClassificationTransformer.FindIn(model);
        var (entries, metadata) = SafetensorsFile.Read(path);
        Check(template.SingleNetwork("Importing safetensors weights"), metadata, path);
        var classifier = ImageClassifier.Load(template.Classifier.Metadata(), ModelWeights.Save(template.Classifier.Model), path);
        try
        {
            CopyInto(classifier, entries, path);
            var replaced = template.WithClassifier(classifier);
            return model is IEnumerable<ITransformer> chain
                ? new TransformerChain<ITransformer>(chain.Select(t => t == template ? replaced : t).ToArray())
                : replaced;
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    private static void Check(ImageClassifier classifier, Dictionary<string, string> metadata, string path)
    {
        // Classes first: another class count also changes the architecture (its head), and the classes say it plainly.
        if (metadata.TryGetValue(InteropMetadata.ClassesKey, out string? classesText) &&
            JsonSerializer.Deserialize<string[]>(classesText) is { } classes && !classes.SequenceEqual(classifier.ClassNames))
            throw new InvalidOperationException($"'{path}' was trained on the classes [{string.Join(", ", classes)}]; the model to load it " +
                $"into has [{string.Join(", ", classifier.ClassNames)}]. Import weights into a model.zip trained on the same classes, in " +
                "the same order.");
        if (metadata.TryGetValue(InteropMetadata.ConfigKey, out string? configText))
        {
            var saved = JsonSerializer.Deserialize<VitConfig>(configText, InteropMetadata.Json)
                ?? throw new InvalidDataException($"'{path}' has an empty {InteropMetadata.ConfigKey} in its metadata.");
            static VitConfig Inference(VitConfig c) => c with { DropPathRate = 0, Dropout = 0, AttentionDropout = 0, Initialization = default };
            var (theirs, ours) = (Inference(saved), Inference(classifier.Config));
            if (theirs != ours)
            {
                var differences = typeof(VitConfig).GetProperties().Where(p => p.GetIndexParameters().Length == 0 && p.CanWrite)
                    .Where(p => !Equals(p.GetValue(theirs), p.GetValue(ours)))
                    .Select(p => $"{p.Name} {p.GetValue(theirs)} (file) vs {p.GetValue(ours)} (model)");
                throw new InvalidOperationException($"'{path}' holds a {Describe(saved)} model; the model to load it into is a " +
                    $"{Describe(classifier.Config)} one: {string.Join(", ", differences)}.");
            }
        }
    }

    private static string Describe(VitConfig c) =>
        $"{c.PositionEncoding}{(c.AbsolutePosition ? "+APE" : "")} {c.Sape2Mode} σ{c.Sape2BiasSign:+0;-0} {c.Pooling} {c.Tokenizer} " +
        $"{c.ImageHeight}×{c.ImageWidth}/{c.PatchSize}, dim {c.EmbedDim}, depth {c.Depth}, {c.NumHeads} heads";

    private static void CopyInto(ImageClassifier classifier, List<SafetensorsEntry> entries, string path)
    {
        var state = classifier.Model.state_dict().ToDictionary(p => TimmNames.ToTimm(p.Key), p => p.Value);
        var file = entries.ToDictionary(e => e.Name);
        if (classifier.Config.PositionEncoding == PositionEncodingKind.Sincos2D) file.Remove("pos_embed");   // fixed: recomputed, not loaded
        var missing = state.Keys.Where(name => !file.ContainsKey(name)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"'{path}' lacks {missing.Count} of the model's tensors: " +
                string.Join(", ", missing.Take(5).Select(name => $"{name} [{string.Join(", ", state[name].shape)}]")) +
                (missing.Count > 5 ? ", …" : "") + ".");
        var extra = file.Keys.Where(name => !state.ContainsKey(name)).ToList();
        if (extra.Count > 0)
            throw new InvalidOperationException($"'{path}' has {extra.Count} tensor(s) the model does not: " +
                string.Join(", ", extra.Take(5).Select(name => $"{name} {file[name].ShapeText}")) + (extra.Count > 5 ? ", …" : "") +
                " — names of another architecture, or of another encoding?");
        using var noGrad = no_grad();
        foreach (var (name, target) in state)
        {
            using var scope = NewDisposeScope();
            var entry = file[name];
            if (!entry.Shape.SequenceEqual(target.shape))
                throw new InvalidOperationException($"Tensor '{name}' in '{path}' is {entry.ShapeText}; the model's is " +
                    $"[{string.Join(", ", target.shape)}].");
            if (entry.DType != target.dtype)
                throw new InvalidOperationException($"Tensor '{name}' in '{path}' is {entry.DType}; the model's is {target.dtype}.");
            using var source = entry.ToTensor();
            if (source.is_floating_point() && !source.isfinite().all().item<bool>())
                throw new InvalidDataException($"Tensor '{name}' in '{path}' holds {source.isnan().sum().item<long>()} NaN and " +
                    $"{source.isinf().sum().item<long>()} infinite value(s); a model with them scores nothing. Export the weights of a run " +
                    "that did not diverge.");
            target.copy_(source);
        }
    }
}
