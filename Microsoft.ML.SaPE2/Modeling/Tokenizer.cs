using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>Turns (B, C, H, W) images into (B, N, dim) tokens over a <see cref="PatchGrid"/>, row-major.</summary>
public abstract class Tokenizer : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the module under <paramref name="name"/>.</summary>
    protected Tokenizer(string name) : base(name) { }

    /// <summary>The token grid of an input of <paramref name="height"/> × <paramref name="width"/> pixels; throws when it has none.</summary>
    public abstract PatchGrid GridFor(long height, long width);

    /// <summary>The token grid of <paramref name="input"/>, (B, C, H, W).</summary>
    public virtual PatchGrid GridOf(Tensor input) => GridFor(input.shape[^2], input.shape[^1]);

    /// <summary>The tokenizer <paramref name="config"/> asks for.</summary>
    public static Tokenizer Create(VitConfig config) => config.Tokenizer switch
    {
        TokenizerKind.Patch => new PatchEmbedding(config.InChannels, config.EmbedDim, config.PatchSize),
        TokenizerKind.Convolutional => new ConvolutionalTokenizer(config.InChannels, config.EmbedDim, config.PatchSize),
        TokenizerKind.PretrainedBackbone => new BackboneTokenizer(config.Backbone!, config.EmbedDim),
        _ => throw new ArgumentOutOfRangeException(nameof(config), $"Unknown tokenizer {config.Tokenizer}."),
    };

    /// <summary>Throws naming the shape when <paramref name="images"/> is not (B, <paramref name="channels"/>, H, W).</summary>
    protected static void CheckImages(Tensor images, int channels)
    {
        if (images.dim() != 4 || images.shape[1] != channels)
            throw new ArgumentException(
                $"Expected images (batch, {channels}, height, width); got shape [{string.Join(", ", images.shape)}].", nameof(images));
    }
}
