using Microsoft.ML.SaPE2.Modeling.Backbone;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// The hybrid ViT's tokenizer (Dosovitskiy et al. 2021, §3.1): a pretrained CNN's feature map is the token grid, each
/// feature vector projected to the token width by a 1×1 convolution. Takes (B, 3, H, W) images, or (B, C, h, w) feature
/// maps the backbone computed earlier — how a trainer with a frozen backbone computes each image's features once and
/// reuses them every epoch.
/// </summary>
public sealed class BackboneTokenizer : Tokenizer
{
    private readonly GraphBackbone backbone;
    private readonly Conv2d projection;

    /// <summary>Creates the tokenizer of <paramref name="graph"/>'s network into <paramref name="embedDim"/>-wide tokens.</summary>
    public BackboneTokenizer(CnnGraph graph, int embedDim) : base(nameof(BackboneTokenizer))
    {
        backbone = new GraphBackbone(graph);
        projection = nn.Conv2d(graph.OutputChannels, embedDim, kernel_size: 1);
        RegisterComponents();
    }

    /// <summary>The pretrained network.</summary>
    public GraphBackbone Backbone => backbone;

    /// <inheritdoc />
    public override PatchGrid GridFor(long height, long width) => backbone.GridFor(height, width);

    /// <inheritdoc />
    public override PatchGrid GridOf(Tensor input) =>
        IsFeatureMap(input) ? new PatchGrid((int)input.shape[2], (int)input.shape[3]) : GridFor(input.shape[^2], input.shape[^1]);

    /// <summary>True when <paramref name="input"/> is a feature map of the backbone rather than an image.</summary>
    public bool IsFeatureMap(Tensor input) =>
        input.dim() == 4 && input.shape[1] == backbone.Graph.OutputChannels && input.shape[1] != backbone.Graph.InputChannels;

    /// <summary>(B, 3, H, W) images or (B, C, h, w) feature maps to (B, N, dim) tokens, row-major over the feature grid.</summary>
    public override Tensor forward(Tensor input)
    {
        if (!IsFeatureMap(input)) CheckImages(input, backbone.Graph.InputChannels);
        using var scope = NewDisposeScope();
        var features = IsFeatureMap(input) ? input : backbone.forward(input);   // (B, C, h, w)
        return projection.forward(features)                                     // (B, dim, h, w)
            .flatten(2)                                                         // (B, dim, N)
            .transpose(1, 2)                                                    // (B, N, dim)
            .MoveToOuterDisposeScope();
    }
}
