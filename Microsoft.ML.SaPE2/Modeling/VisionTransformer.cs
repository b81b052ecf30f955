using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// A vision transformer (ViT/DeiT layout) whose position encoding is chosen by
/// <see cref="VitConfig.PositionEncoding"/>: tokenizer (patch embedding or convolutional stem), CLS token, token
/// position encoding, pre-norm blocks, final norm, pooling and a linear head. Images of any size the tokenizer
/// accepts run through the same weights.
/// </summary>
public sealed class VisionTransformer : nn.Module<Tensor, Tensor>, INoWeightDecay
{
    private readonly Tokenizer patchEmbedding;   // any tokenizer; timm's name (patch_embed), and the weights' names in model files
    private readonly Parameter? classToken;   // (1, 1, C) when Pooling is ClassToken
    private readonly SequencePooling? sequencePooling;
    private readonly TokenPositionEncoding tokenPosition;
    private readonly Dropout tokenDropout;
    private readonly ModuleList<EncoderBlock> blocks;
    private readonly LayerNorm norm;
    private readonly Linear head;

    /// <summary>Builds an untrained model of <paramref name="config"/>.</summary>
    public VisionTransformer(VitConfig config) : this(config, initialize: true) { }

    /// <summary>Builds the model; <paramref name="initialize"/> false skips the ViT initialisation (for weights loaded right after).</summary>
    internal VisionTransformer(VitConfig config, bool initialize) : base(nameof(VisionTransformer))
    {
        config.Validate();
        Config = config;
        patchEmbedding = Tokenizer.Create(config);
        if (config.Pooling == PoolingKind.ClassToken)
            classToken = nn.Parameter(zeros(1, 1, config.EmbedDim));
        if (config.Pooling == PoolingKind.SequencePooling)
            sequencePooling = new SequencePooling(config.EmbedDim);
        tokenPosition = PositionEncodingFactory.CreateTokenEncoding(config);
        tokenDropout = nn.Dropout(config.Dropout);
        blocks = new ModuleList<EncoderBlock>();
        for (int i = 0; i < config.Depth; i++)   // stochastic depth grows linearly to DropPathRate (DeiT)
            blocks.Add(new EncoderBlock(config, config.Depth == 1 ? config.DropPathRate : config.DropPathRate * i / (config.Depth - 1)));
        norm = nn.LayerNorm(config.EmbedDim, eps: 1e-6);
        head = nn.Linear(config.EmbedDim, config.NumClasses);
        RegisterComponents();
        if (initialize && config.Initialization == WeightInitialization.TruncatedNormal) InitializeWeights();
    }

    /// <summary>The configuration the model was built from.</summary>
    public VitConfig Config { get; }

    /// <summary>The encoder blocks, for inspection (attention maps, SaPE² tables).</summary>
    public IReadOnlyList<EncoderBlock> Blocks => blocks.ToList();

    /// <summary>The patch grid of (B, C, H, W) images.</summary>
    public PatchGrid GridOf(Tensor images) => patchEmbedding.GridOf(images);

    /// <summary>The pretrained CNN of a hybrid model (<see cref="TokenizerKind.PretrainedBackbone"/>); null otherwise.</summary>
    public Backbone.GraphBackbone? Backbone => (patchEmbedding as BackboneTokenizer)?.Backbone;

    /// <summary>(B, C, H, W) images to (B, classes) logits.</summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        return ForwardHead(ForwardFeatures(images)).MoveToOuterDisposeScope();
    }

    /// <summary>(B, C, H, W) images to the normalised final tokens (B, P + N, C).</summary>
    public Tensor ForwardFeatures(Tensor images)
    {
        using var scope = NewDisposeScope();
        var tokens = EmbedTokens(images, out var grid);                    // (B, P + N, C)
        foreach (var block in blocks)
            tokens = block.forward(tokens, grid);
        return norm.forward(tokens).MoveToOuterDisposeScope();
    }

    /// <summary>The CLS token, when there is one, takes no weight decay (timm's <c>no_weight_decay</c>).</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> NoWeightDecay() =>
        classToken is null ? Array.Empty<TorchSharp.Modules.Parameter>() : new[] { classToken };

    /// <summary>What one layer computed: attention weights (B, h, T, T) and, with SaPE², its bias (B, h, N, N).</summary>
    public sealed record LayerInspection(Tensor Weights, Tensor? Sape2Bias);

    /// <summary>
    /// Runs <paramref name="images"/> through the model in evaluation mode and returns every layer's attention weights and
    /// SaPE² bias (an explicit call rather than hooks), each layer computed once; the model's training mode is restored
    /// afterwards. The caller owns the returned tensors.
    /// </summary>
    public IReadOnlyList<LayerInspection> Inspect(Tensor images, out PatchGrid grid)
    {
        bool wasTraining = training;
        eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var layers = new List<LayerInspection>();
            var tokens = EmbedTokens(images, out grid);
            foreach (var block in blocks)
            {
                (tokens, var weights, var bias) = block.Inspect(tokens, grid);
                layers.Add(new LayerInspection(weights.MoveToOuterDisposeScope(), bias?.MoveToOuterDisposeScope()));
            }
            return layers;
        }
        finally
        {
            if (wasTraining) train();
        }
    }

    /// <summary>The tokens that enter the first block, (B, P + N, C), and the input's patch grid.</summary>
    public Tensor EmbedTokens(Tensor images, out PatchGrid grid)
    {
        using var scope = NewDisposeScope();
        grid = GridOf(images);
        var tokens = patchEmbedding.forward(images);                             // (B, N, C)
        if (classToken is not null)                                         // ViT: CLS first, then the patches
            tokens = cat(new[] { classToken.expand(tokens.shape[0], -1, -1), tokens }, 1);   // (B, 1 + N, C)
        tokens = tokenPosition.Encode(tokens, grid, Config.PrefixTokens);
        return tokenDropout.forward(tokens).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// What the token position encoding adds to the tokens of an image of the model's size, (1, P + N, C): the learned table,
    /// the fixed 2D sin-cos one (zero for the CLS token), or zeros. The caller owns the tensor.
    /// </summary>
    internal Tensor TokenPositionTable()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grid = patchEmbedding.GridFor(Config.ImageHeight, Config.ImageWidth);
        var tokens = zeros(1, Config.PrefixTokens + grid.Count, Config.EmbedDim);
        return tokenPosition.Encode(tokens, grid, Config.PrefixTokens).MoveToOuterDisposeScope();
    }

    /// <summary>Final tokens (B, P + N, C) to logits (B, classes): the CLS token's state, or the (weighted) mean of the patches.</summary>
    public Tensor ForwardHead(Tensor features)
    {
        using var scope = NewDisposeScope();
        var pooled = Config.Pooling switch                                  // (B, C)
        {
            PoolingKind.ClassToken => features.select(1, 0),
            PoolingKind.SequencePooling => sequencePooling!.forward(features),
            _ => features.mean(new long[] { 1 }),
        };
        return head.forward(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// timm's ViT initialisation: linear weights truncated-normal std 0.02 with zero bias; CLS token std 1e-6. Without
    /// it (<see cref="WeightInitialization.PyTorchDefault"/>) the layers keep TorchSharp's PyTorch-default initialisation
    /// and the CLS token starts at zero; position tables are truncated-normal 0.02 either way.
    /// </summary>
    private void InitializeWeights()
    {
        using var noGrad = no_grad();
        foreach (var module in modules())
        {
            if (module is Linear linear)
            {
                Initialization.TruncatedNormal(linear.weight, 0.02);
                if (linear.bias is not null) nn.init.zeros_(linear.bias);
            }
        }
        if (classToken is not null) nn.init.normal_(classToken, std: 1e-6);
    }
}
