namespace Microsoft.ML.SaPE2.Interop;

/// <summary>
/// Parameter names as timm's <c>VisionTransformer</c> spells them (patch_embed.proj, cls_token, pos_embed,
/// blocks.N.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2, norm, head), and names of the same style under
/// <c>attn.sape2</c>, <c>attn.cope</c>, <c>attn.rope</c>, <c>patch_embed.stem</c> and <c>seq_pool</c> for what timm has
/// no module for. The layouts are already timm's (Linear weights out × in, qkv stacked q, k, v), so only names change.
/// </summary>
internal static class TimmNames
{
    // Ours → timm's, applied in order (the longer SaPE² names before CoPE's "table").
    private static readonly (string Ours, string Timm)[] Renames =
    [
        ("patchEmbedding.projection.", "patch_embed.proj."), ("patchEmbedding.stem.", "patch_embed.stem."), ("classToken", "cls_token"),
        ("tokenPosition.table", "pos_embed"), ("sequencePooling.score.", "seq_pool.score."), (".attentionNorm.", ".norm1."),
        (".mlpNorm.", ".norm2."), (".attention.qkv.", ".attn.qkv."), (".attention.projection.", ".attn.proj."),
        (".attention.position.biasGate", ".attn.sape2.bias_gate"),
        (".attention.position.tableX", ".attn.sape2.table_x"), (".attention.position.tableY", ".attn.sape2.table_y"),
        (".attention.position.table", ".attn.cope.table"), (".attention.position.frequencies", ".attn.rope.freqs"),
        (".mlp.expand.", ".mlp.fc1."), (".mlp.contract.", ".mlp.fc2."),
    ];

    /// <summary>timm's name of the module weight <paramref name="name"/> (a TorchSharp state-dict key of
    /// <see cref="Modeling.VisionTransformer"/>).</summary>
    public static string ToTimm(string name) => Renames.Aggregate(name, (current, rule) => current.Replace(rule.Ours, rule.Timm));
}
