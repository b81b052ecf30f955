using System.Security.Cryptography;
using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Interop;

/// <summary>
/// A timm <c>vit_*</c> / <c>deit_*</c> checkpoint in safetensors (timm's names: patch_embed.proj, cls_token, pos_embed, blocks.N.…,
/// norm, head): the architecture it implies and its tensors, and the graft of those tensors onto one of our models. The graft is
/// non-strict on purpose — the head is new for the user's classes, <c>pos_embed</c> is resampled bicubically to the model's grid as
/// timm's <c>resample_abs_pos_embed</c> does, and what the checkpoint has no tensor for (SaPE², CoPE and RoPE-Mixed parameters) starts
/// where the model computes the pretrained function: SaPE² behind a gate at 0, CoPE's table and RoPE-Mixed's frequencies at 0.
/// </summary>
internal sealed class TimmCheckpoint : IDisposable
{
    /// <summary>timm's ViTs and DeiTs have 64-wide attention heads; the file does not record the head count.</summary>
    public const int HeadWidth = 64;

    private readonly Dictionary<string, Tensor> tensors;

    private TimmCheckpoint(string path, string sha256, Dictionary<string, Tensor> tensors, VitConfig architecture)
    {
        (Path, Sha256, this.tensors, Architecture) = (path, sha256, tensors, architecture);
    }

    /// <summary>The file.</summary>
    public string Path { get; }
    /// <summary>Its SHA-256 (hex).</summary>
    public string Sha256 { get; }
    /// <summary>The architecture the tensors imply: patch size, width, depth, heads, MLP ratio, CLS token, native image side (at which
    /// its position table has no resampling); a plain ViT with absolute positions.</summary>
    public VitConfig Architecture { get; }
    /// <summary>The tensors by timm name, float32.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors => tensors;

    /// <summary>Reads <paramref name="path"/>; anything that is not a timm patch-embedding ViT is refused naming the file and what is
    /// missing.</summary>
    public static TimmCheckpoint Read(string path)
    {
        var (entries, _) = SafetensorsFile.Read(path);
        var tensors = new Dictionary<string, Tensor>();
        try
        {
            foreach (var entry in entries)
                using (var raw = entry.ToTensor())
                    tensors[entry.Name] = raw.to(ScalarType.Float32);
            var architecture = Infer(path, tensors);
            string sha256;
            using (var file = File.OpenRead(path)) sha256 = Convert.ToHexStringLower(SHA256.HashData(file));
            return new TimmCheckpoint(path, sha256, tensors, architecture);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    private static VitConfig Infer(string path, Dictionary<string, Tensor> t)
    {
        InvalidDataException Bad(string why) => new($"'{path}' is not a timm ViT checkpoint this library can start from: {why}");
        if (!t.TryGetValue("patch_embed.proj.weight", out var patch) || patch.dim() != 4)
            throw Bad("it has no patch_embed.proj.weight (D, 3, P, P) — a hybrid or convolutional-stem model?");
        if (t.ContainsKey("dist_token")) throw Bad("it is a distilled DeiT (dist_token); use the plain deit_* checkpoint.");
        if (t.ContainsKey("fc_norm.weight")) throw Bad("it pools by global average with fc_norm; only CLS-token ViTs are read.");
        if (!t.ContainsKey("cls_token")) throw Bad("it has no cls_token.");
        if (!t.TryGetValue("pos_embed", out var position)) throw Bad("it has no pos_embed.");
        int dim = (int)patch.shape[0], patchSize = (int)patch.shape[2];
        if (patch.shape[1] != 3 || patch.shape[3] != patchSize) throw Bad($"patch_embed.proj.weight is [{string.Join(", ", patch.shape)}].");
        if (dim % HeadWidth != 0) throw Bad($"its width {dim} is not a multiple of timm's head width {HeadWidth}.");
        int depth = t.Keys.Where(k => k.StartsWith("blocks.", StringComparison.Ordinal))
            .Select(k => int.Parse(k.Split('.')[1])).DefaultIfEmpty(-1).Max() + 1;
        if (depth == 0) throw Bad("it has no blocks.");
        long hidden = t.TryGetValue("blocks.0.mlp.fc1.weight", out var fc1) ? fc1.shape[0] : throw Bad("blocks.0.mlp.fc1.weight is missing.");
        long patches = position.shape[1] - 1;
        int side = (int)Math.Round(Math.Sqrt(patches));
        if (side * side != patches) throw Bad($"pos_embed holds {patches} patch positions, not a square grid.");
        return new VitConfig
        {
            ImageHeight = side * patchSize, ImageWidth = side * patchSize, PatchSize = patchSize, InChannels = 3, EmbedDim = dim, Depth = depth,
            NumHeads = dim / HeadWidth, MlpRatio = (double)hidden / dim, Tokenizer = TokenizerKind.Patch, Pooling = PoolingKind.ClassToken,
            Initialization = WeightInitialization.TruncatedNormal, PositionEncoding = PositionEncodingKind.Absolute, AbsolutePosition = true,
        };
    }

    /// <summary>
    /// Copies the checkpoint into <paramref name="model"/> (built from <see cref="Architecture"/> with the user's classes, image size
    /// and position encoding) and returns one line naming every tensor of the file that was not used, with the reason.
    /// </summary>
    public string GraftOnto(VisionTransformer model)
    {
        var config = model.Config;
        if (config.PatchSize != Architecture.PatchSize || config.EmbedDim != Architecture.EmbedDim || config.Depth != Architecture.Depth)
            throw new InvalidOperationException($"'{Path}' is a ViT of patch {Architecture.PatchSize}, width {Architecture.EmbedDim} and depth " +
                $"{Architecture.Depth}; the model is patch {config.PatchSize}, width {config.EmbedDim}, depth {config.Depth}.");
        using var noGrad = no_grad();
        var used = new HashSet<string>();
        foreach (var (name, target) in model.state_dict())
        {
            string timm = TimmNames.ToTimm(name);
            if (timm.StartsWith("head.", StringComparison.Ordinal)) continue;   // a new classifier for the user's classes
            if (timm == "pos_embed" && tensors.TryGetValue(timm, out var table))
            {
                var from = new PatchGrid(Architecture.GridHeight, Architecture.GridWidth);
                var to = new PatchGrid(config.GridHeight, config.GridWidth);
                using var resized = AbsolutePositionEmbedding.ResizeTable(table, config.PrefixTokens, from, to);
                target.copy_(resized);
                used.Add(timm);
            }
            else if (tensors.TryGetValue(timm, out var value))
            {
                if (!value.shape.SequenceEqual(target.shape))
                    throw new InvalidOperationException($"'{Path}': tensor '{timm}' is [{string.Join(", ", value.shape)}]; the model's " +
                        $"'{name}' is [{string.Join(", ", target.shape)}].");
                target.copy_(value);
                used.Add(timm);
            }
            else if (name.EndsWith(".attention.position.table", StringComparison.Ordinal)
                     || name.EndsWith(".attention.position.frequencies", StringComparison.Ordinal))
                target.zero_();   // CoPE adds nothing and RoPE-Mixed rotates by 0: the pretrained function
        }
        var unused = tensors.Keys.Where(k => !used.Contains(k)).Order(StringComparer.Ordinal).ToList();
        string Reason(string k) => k.StartsWith("head.", StringComparison.Ordinal) ? "replaced by a new classifier for your classes"
            : "the model has no such tensor";
        return unused.Count == 0 ? $"every tensor of '{Path}' was used"
            : $"tensors of '{Path}' not used: " + string.Join("; ", unused.GroupBy(Reason).Select(g => $"{string.Join(", ", g)} ({g.Key})"));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
