using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// CCT's convolutional tokenizer (Hassani et al. 2021) with batch normalisation: <c>S = log₂(tokenStride)</c> stages
/// of 3×3 convolution (stride 1, padding 1, no bias) → BatchNorm → ReLU → 3×3 max-pool (stride 2, padding 1). Each
/// stage maps a side of <c>n</c> pixels to <c>⌈n/2⌉</c>, so any image size works (28 → 14 → 7; 27 → 14 → 7). The
/// first stages are half as wide as the tokens. BatchNorm is ours, not CCT's: measured on the embedded Fashion-MNIST
/// subset (gradient clipping off) it lifted held-out accuracy after 5 epochs from 76.2% to 80.8% (Docs/small-data.md).
/// </summary>
public sealed class ConvolutionalTokenizer : Tokenizer
{
    private readonly Sequential stem;
    private readonly int tokenStride;
    private readonly int inChannels;

    /// <summary>
    /// Creates the stem for <paramref name="inChannels"/>-channel images, <paramref name="embedDim"/>-wide tokens and a
    /// power-of-two <paramref name="tokenStride"/>.
    /// </summary>
    public ConvolutionalTokenizer(int inChannels, int embedDim, int tokenStride) : base(nameof(ConvolutionalTokenizer))
    {
        int stages = StagesFor(tokenStride);
        this.tokenStride = tokenStride;
        this.inChannels = inChannels;
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        int channels = inChannels;
        for (int s = 0; s < stages; s++)
        {
            int width = s == stages - 1 ? embedDim : Math.Max(1, embedDim / 2);
            layers.Add(($"conv{s}", nn.Conv2d(channels, width, kernel_size: 3, stride: 1, padding: 1, bias: false)));
            layers.Add(($"norm{s}", nn.BatchNorm2d(width)));
            layers.Add(($"relu{s}", nn.ReLU()));
            layers.Add(($"pool{s}", nn.MaxPool2d(kernel_size: 3, stride: 2, padding: 1)));
            channels = width;
        }
        stem = nn.Sequential(layers);
        RegisterComponents();
    }

    /// <summary>The number of halving stages for <paramref name="tokenStride"/>; throws unless it is a power of two from 2 to 32.</summary>
    public static int StagesFor(int tokenStride) => tokenStride switch
    {
        2 => 1, 4 => 2, 8 => 3, 16 => 4, 32 => 5,
        _ => throw new ArgumentOutOfRangeException("PatchSize",
            $"The convolutional tokenizer halves the image per stage, so PatchSize must be 2, 4, 8, 16 or 32; got {tokenStride}."),
    };

    /// <summary>
    /// Tokens along a side of <paramref name="pixels"/>: each max-pool stage (3/2/1) maps n to ⌈n/2⌉, and for a
    /// power-of-two stride the repeated ⌈n/2⌉ is ⌈n/stride⌉.
    /// </summary>
    public static int TokensAlong(int pixels, int tokenStride) => (pixels + tokenStride - 1) / tokenStride;

    /// <inheritdoc />
    public override PatchGrid GridFor(long height, long width)
    {
        if (height <= 0 || width <= 0) throw new ArgumentException($"Input size {height}×{width} must be positive.");
        return new PatchGrid(TokensAlong((int)height, tokenStride), TokensAlong((int)width, tokenStride));
    }

    /// <summary>(B, C, H, W) images to (B, N, dim) tokens, row-major over the token grid.</summary>
    public override Tensor forward(Tensor images)
    {
        CheckImages(images, inChannels);
        using var scope = NewDisposeScope();
        // libtorch routes a CPU 3×3 convolution of one small image (batch 1, under 20,480 values) to NNPACK, which on
        // CPUs it does not support fails and prints a warning on every call. Two copies take the oneDNN path instead;
        // BatchNorm in evaluation mode treats rows independently, so the first row is the same function.
        if (images.shape[0] == 1 && images.device_type == DeviceType.CPU && !training)
            return forward(images.expand(2, -1, -1, -1)).narrow(0, 0, 1).MoveToOuterDisposeScope();
        return stem.forward(images)      // (B, dim, ⌈H/2^S⌉, ⌈W/2^S⌉)
            .flatten(2)                   // (B, dim, N)
            .transpose(1, 2)              // (B, N, dim)
            .MoveToOuterDisposeScope();
    }
}
