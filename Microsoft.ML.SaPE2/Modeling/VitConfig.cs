namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// Everything that defines the network's shape. Built with <see cref="FromPreset"/> and adjusted with
/// <c>with</c>; every default is the choice of Docs/spec.md or of DeiT's recipe.
/// </summary>
public sealed record VitConfig
{
    /// <summary>Input height in pixels the model is built for; any multiple of <see cref="PatchSize"/> runs later.</summary>
    public int ImageHeight { get; init; } = 32;
    /// <summary>Input width in pixels the model is built for.</summary>
    public int ImageWidth { get; init; } = 32;
    /// <summary>Side of a square patch; 4 gives the paper's 8×8 grid on 32×32 images.</summary>
    public int PatchSize { get; init; } = 4;
    /// <summary>1 for grayscale, 3 for RGB.</summary>
    public int InChannels { get; init; } = 3;
    /// <summary>Number of classes of the classification head.</summary>
    public int NumClasses { get; init; } = 10;

    /// <summary>Token width.</summary>
    public int EmbedDim { get; init; } = 192;
    /// <summary>Number of encoder blocks.</summary>
    public int Depth { get; init; } = 12;
    /// <summary>Attention heads; <see cref="EmbedDim"/> must divide by it.</summary>
    public int NumHeads { get; init; } = 3;
    /// <summary>Hidden width of the MLP as a multiple of <see cref="EmbedDim"/> (4, as in ViT).</summary>
    public double MlpRatio { get; init; } = 4.0;

    /// <summary>Dropout after the attention projection, in the MLP and on the tokens (0: DeiT trains without it).</summary>
    public double Dropout { get; init; } = 0.0;
    /// <summary>Dropout on the attention weights.</summary>
    public double AttentionDropout { get; init; } = 0.0;
    /// <summary>Stochastic depth of the last block; earlier blocks get linearly less (DeiT: 0.1).</summary>
    public double DropPathRate { get; init; } = 0.1;

    /// <summary>CLS token (the paper), global average pooling or sequence pooling.</summary>
    public PoolingKind Pooling { get; init; } = PoolingKind.ClassToken;
    /// <summary>Linear patch embedding (the paper) or a convolutional stem; with the stem, <see cref="PatchSize"/> is its token stride.</summary>
    public TokenizerKind Tokenizer { get; init; } = TokenizerKind.Patch;
    /// <summary>The pretrained network of <see cref="TokenizerKind.PretrainedBackbone"/> (its graph; the weights are the model's); null
    /// otherwise.</summary>
    public Backbone.CnnGraph? Backbone { get; init; }
    /// <summary>How the linear layers are initialised (timm's truncated normal, the paper's, or PyTorch's default).</summary>
    public WeightInitialization Initialization { get; init; } = WeightInitialization.TruncatedNormal;

    /// <summary>The position encoding under study.</summary>
    public PositionEncodingKind PositionEncoding { get; init; } = PositionEncodingKind.Sape2;
    /// <summary>
    /// Adds the learned absolute embedding to RoPE, CoPE and SaPE² (the paper's "+APE" rows; on by default because
    /// SaPE²+APE is its best row). <see cref="PositionEncodingKind.None"/>, <see cref="PositionEncodingKind.Absolute"/>
    /// and <see cref="PositionEncodingKind.Sincos2D"/> ignore it.
    /// </summary>
    public bool AbsolutePosition { get; init; } = true;
    /// <summary>Which vector SaPE²'s embedding logits use (Eq. 13): the key (the paper's best) or the query.</summary>
    public Sape2Mode Sape2Mode { get; init; } = Sape2Mode.Key;
    /// <summary>SaPE² gate scale s of Eq. 9; 0 means 1/√headDim.</summary>
    public double Sape2GateScale { get; init; } = 0.0;
    /// <summary>Sign σ of the SaPE² bias in Eq. 16: +1 (the paper) or −1.</summary>
    public double Sape2BiasSign { get; init; } = 1.0;
    /// <summary>Whether the SaPE² bias is divided by √d together with q·k (Eq. 16) or added after the scaling.</summary>
    public bool Sape2BiasInsideScale { get; init; } = true;
    /// <summary>Number M of integer positions in each SaPE² table; 0 means max(H, W) + 1 of the training grid.</summary>
    public int Sape2TableSize { get; init; } = 0;
    /// <summary>
    /// On a grid with more patches a side than the table has positions (a model run on larger images than it was trained on),
    /// scale SaPE²'s cumulative positions by (M − 1)/side so they stay within the table instead of piling up on its last entry
    /// (position interpolation). No effect on grids the table covers, so it does not change training. Default false: the paper's clamp.
    /// </summary>
    public bool Sape2InterpolatePositions { get; init; } = false;

    /// <summary>
    /// Multiplies each layer's SaPE² bias by a learned α that starts at 0 (not in the paper): a model grafted onto pretrained ViT
    /// weights then computes exactly the pretrained function before its first step and learns how much SaPE² to add. Default false.
    /// </summary>
    public bool Sape2BiasGate { get; init; }

    /// <summary>Patch rows of the training grid.</summary>
    public int GridHeight => Backbone?.GridFor(ImageHeight, ImageWidth).Height ?? TokensAlong(ImageHeight);
    /// <summary>Patch columns of the training grid.</summary>
    public int GridWidth => Backbone?.GridFor(ImageHeight, ImageWidth).Width ?? TokensAlong(ImageWidth);
    /// <summary>Width of one attention head.</summary>
    public int HeadDim => EmbedDim / NumHeads;
    /// <summary>1 with a CLS token, 0 with global average pooling.</summary>
    public int PrefixTokens => Pooling == PoolingKind.ClassToken ? 1 : 0;
    /// <summary>The M actually used by SaPE² tables.</summary>
    public int EffectiveSape2TableSize => Sape2TableSize > 0 ? Sape2TableSize : Math.Max(GridHeight, GridWidth) + 1;
    /// <summary>The s actually used by SaPE² gates.</summary>
    public double EffectiveSape2GateScale => Sape2GateScale > 0 ? Sape2GateScale : 1.0 / Math.Sqrt(HeadDim);

    /// <summary>The named size <paramref name="preset"/> for square images of <paramref name="imageSize"/> pixels.</summary>
    public static VitConfig FromPreset(VitPreset preset, int imageSize = 32, int patchSize = 4, int inChannels = 3, int numClasses = 10)
    {
        var size = new VitConfig { ImageHeight = imageSize, ImageWidth = imageSize, PatchSize = patchSize, InChannels = inChannels,
            NumClasses = numClasses };
        return preset switch
        {
            VitPreset.Micro => size with { EmbedDim = 64, Depth = 4, NumHeads = 2, DropPathRate = 0.0 },
            VitPreset.Tiny => size with { EmbedDim = 192, Depth = 12, NumHeads = 3 },
            VitPreset.Small => size with { EmbedDim = 384, Depth = 12, NumHeads = 6 },
            _ => throw new ArgumentOutOfRangeException(nameof(preset), $"Unknown preset {preset}."),
        };
    }

    /// <summary>The largest model input side in pixels.</summary>
    public const int MaxImageSide = 4096;
    /// <summary>The most tokens per image (64×64): attention and SaPE² hold tensors of tokens² values per head.</summary>
    public const int MaxTokens = 4096;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first setting that cannot build a model.</summary>
    public void Validate()
    {
        OptionChecks.Finite((MlpRatio, nameof(MlpRatio)), (Dropout, nameof(Dropout)), (AttentionDropout, nameof(AttentionDropout)),
            (DropPathRate, nameof(DropPathRate)), (Sape2GateScale, nameof(Sape2GateScale)), (Sape2BiasSign, nameof(Sape2BiasSign)));
        Positive(ImageHeight, nameof(ImageHeight)); Positive(ImageWidth, nameof(ImageWidth));
        Positive(PatchSize, nameof(PatchSize)); Positive(EmbedDim, nameof(EmbedDim));
        Positive(Depth, nameof(Depth)); Positive(NumHeads, nameof(NumHeads));
        if (InChannels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(InChannels), $"Must be 1 (grayscale) or 3 (RGB); got {InChannels}.");
        if (NumClasses < 2)
            throw new ArgumentOutOfRangeException(nameof(NumClasses), $"Must be at least 2; got {NumClasses}.");
        if ((Tokenizer == TokenizerKind.PretrainedBackbone) != (Backbone is not null))
            throw new ArgumentOutOfRangeException(nameof(Backbone), Backbone is null
                ? "The PretrainedBackbone tokenizer needs a Backbone network." : $"A Backbone network is set but the tokenizer is {Tokenizer}.");
        if (Backbone is not null && InChannels != Backbone.InputChannels)
            throw new ArgumentOutOfRangeException(nameof(InChannels), $"The backbone ({Backbone.Source}) takes {Backbone.InputChannels}-channel " +
                $"images; got {InChannels}.");
        if (Backbone is not null)
            Backbone.GridFor(ImageHeight, ImageWidth);
        else if (Tokenizer == TokenizerKind.Convolutional)
            ConvolutionalTokenizer.StagesFor(PatchSize);
        else if (ImageHeight % PatchSize != 0 || ImageWidth % PatchSize != 0)
            throw new ArgumentOutOfRangeException(nameof(PatchSize), $"Must divide the image size ({ImageHeight}×{ImageWidth}); got {PatchSize}.");
        if (ImageHeight > MaxImageSide || ImageWidth > MaxImageSide)
            throw new ArgumentOutOfRangeException(nameof(ImageHeight), $"The model input is {ImageHeight}×{ImageWidth} pixels; the " +
                $"limit is {MaxImageSide} a side (ImageSize, ImageHeight, ImageWidth).");
        long tokens = (long)GridHeight * GridWidth;
        if (tokens > MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(PatchSize), $"{ImageHeight}×{ImageWidth} pixels at {PatchSize} pixels a token " +
                $"give {GridHeight}×{GridWidth} = {tokens:N0} tokens per image; the limit is {MaxTokens:N0} (attention and SaPE² memory " +
                    $"grow with the square of it). Raise PatchSize or lower ImageSize.");
        if (EmbedDim % NumHeads != 0)
            throw new ArgumentOutOfRangeException(nameof(NumHeads), $"Must divide EmbedDim ({EmbedDim}); got {NumHeads}.");
        if (PositionEncoding is PositionEncodingKind.RopeAxial or PositionEncodingKind.RopeMixed)
            PositionEncodings.RotaryAttention.CheckHeadWidth(HeadDim, nameof(NumHeads));
        if (PositionEncoding == PositionEncodingKind.Sincos2D) PositionEncodings.Sincos2DPositionEmbedding.CheckWidth(EmbedDim, nameof(EmbedDim));
        if (MlpRatio <= 0)
            throw new ArgumentOutOfRangeException(nameof(MlpRatio), $"Must be positive; got {MlpRatio}.");
        Probability(Dropout, nameof(Dropout)); Probability(AttentionDropout, nameof(AttentionDropout)); Probability(DropPathRate,
            nameof(DropPathRate));
        if (!Enum.IsDefined(Tokenizer)) throw new ArgumentOutOfRangeException(nameof(Tokenizer), $"Unknown tokenizer {Tokenizer}.");
        if (!Enum.IsDefined(Pooling)) throw new ArgumentOutOfRangeException(nameof(Pooling), $"Unknown pooling {Pooling}.");
        if (!Enum.IsDefined(Initialization)) throw new ArgumentOutOfRangeException(nameof(Initialization),
            $"Unknown initialisation {Initialization}.");
        if (Sape2GateScale < 0)
            throw new ArgumentOutOfRangeException(nameof(Sape2GateScale), $"Must be positive, or 0 for 1/√headDim; got {Sape2GateScale}.");
        if (Sape2BiasSign is not (1.0 or -1.0))
            throw new ArgumentOutOfRangeException(nameof(Sape2BiasSign), $"Must be +1 or -1; got {Sape2BiasSign}.");
        if (Sape2TableSize is < 0 or 1)
            throw new ArgumentOutOfRangeException(nameof(Sape2TableSize), $"Must be at least 2, or 0 for max(H, W) + 1; got {Sape2TableSize}.");
    }

    private int TokensAlong(int pixels) =>
        Tokenizer == TokenizerKind.Patch ? pixels / PatchSize : ConvolutionalTokenizer.TokensAlong(pixels, PatchSize);

    static void Positive(int value, string name)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(name, $"Must be positive; got {value}.");
    }

    static void Probability(double value, string name)
    {
        if (value is < 0 or >= 1 || double.IsNaN(value)) throw new ArgumentOutOfRangeException(name, $"Should be within [0, 1); got {value}.");
    }
}
