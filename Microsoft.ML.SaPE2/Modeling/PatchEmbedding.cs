using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>Cuts the image into non-overlapping P×P patches and projects each to a token (one strided convolution).</summary>
public sealed class PatchEmbedding : Tokenizer
{
    private readonly Conv2d projection;
    private readonly int patchSize;
    private readonly int inChannels;

    /// <summary>Creates the embedding of <paramref name="inChannels"/>-channel images into <paramref name="embedDim"/>-wide tokens.</summary>
    public PatchEmbedding(int inChannels, int embedDim, int patchSize) : base(nameof(PatchEmbedding))
    {
        projection = nn.Conv2d(inChannels, embedDim, kernel_size: patchSize, stride: patchSize);
        this.patchSize = patchSize;
        this.inChannels = inChannels;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override PatchGrid GridFor(long height, long width)
    {
        if (height % patchSize != 0 || width % patchSize != 0 || height == 0 || width == 0)
            throw new ArgumentException($"Input size {height}×{width} must be a positive multiple of the patch size {patchSize}.");
        return new PatchGrid((int)(height / patchSize), (int)(width / patchSize));
    }

    /// <summary>(B, C, H, W) images to (B, N, dim) tokens, row-major over the patch grid.</summary>
    public override Tensor forward(Tensor images)
    {
        CheckImages(images, inChannels);
        GridFor(images.shape[2], images.shape[3]);
        using var scope = NewDisposeScope();
        var tokens = projection.forward(images)      // (B, dim, H/P, W/P)
            .flatten(2)                               // (B, dim, N)
            .transpose(1, 2);                         // (B, N, dim)
        return tokens.MoveToOuterDisposeScope();
    }
}
