// The choices the trainer's Options take about the model, in the namespace users import with the trainer
// (`using Microsoft.ML.SaPE2;`); the model itself stays in Microsoft.ML.SaPE2.Modeling.
namespace Microsoft.ML.SaPE2;

/// <summary>Named sizes of the vision transformer.</summary>
public enum VitPreset
{
    /// <summary>dim 64, depth 4, 2 heads: trains a few epochs on 2 CPU cores in seconds (tests, the sample).</summary>
    Micro,
    /// <summary>ViT-Tiny (DeiT-Ti): dim 192, depth 12, 3 heads.</summary>
    Tiny,
    /// <summary>ViT-Small (DeiT-S), the paper's backbone: dim 384, depth 12, 6 heads.</summary>
    Small,
}

/// <summary>How the encoder's output becomes the image representation fed to the classifier.</summary>
public enum PoolingKind
{
    /// <summary>A learned CLS token is prepended; its final state is classified (ViT/DeiT, the paper).</summary>
    ClassToken,
    /// <summary>No CLS token; the patch tokens' final states are averaged.</summary>
    GlobalAverage,
    /// <summary>No CLS token; a learned softmax weighting of the final tokens (CCT's sequence pooling).</summary>
    SequencePooling,
}

/// <summary>How the weight matrices of the linear layers start.</summary>
public enum WeightInitialization
{
    /// <summary>timm's ViT scheme: truncated normal, std 0.02, zero biases (tuned for long ImageNet runs; the paper's).</summary>
    TruncatedNormal,
    /// <summary>PyTorch's <c>nn.Linear</c> default (Kaiming-uniform, a = √5): learns much faster in short runs on small data.</summary>
    PyTorchDefault,
}

/// <summary>How images become the transformer's patch tokens.</summary>
public enum TokenizerKind
{
    /// <summary>ViT's linear patch embedding: one strided P×P convolution (the paper's backbone).</summary>
    Patch,
    /// <summary>
    /// A small convolutional stem (Hassani et al. 2021, "Escaping the Big Data Paradigm with Compact Transformers"):
    /// log₂P stages of 3×3 convolution → BatchNorm → ReLU → 3×3 max-pool with stride 2, so each token sees overlapping
    /// neighbourhoods. Learns far faster than <see cref="Patch"/> from a few thousand images.
    /// </summary>
    Convolutional,
    /// <summary>
    /// A pretrained CNN (ImageNet ResNet18) cut after a stage; its feature map is the token grid (the hybrid ViT of
    /// Dosovitskiy et al. 2021). Starts from ImageNet features: the choice for photos.
    /// </summary>
    PretrainedBackbone,
}

/// <summary>The position encodings the paper compares, all on the same backbone.</summary>
public enum PositionEncodingKind
{
    /// <summary>No position information at all.</summary>
    None,
    /// <summary>Learned absolute embedding added after the patch embedding (ViT/DeiT); resized bicubically for other grids.</summary>
    Absolute,
    /// <summary>Fixed 2D sinusoidal embedding, half the channels for x and half for y (MAE).</summary>
    Sincos2D,
    /// <summary>2D rotary embedding of q and k with fixed axial frequencies (Heo et al., ECCV 2024).</summary>
    RopeAxial,
    /// <summary>2D rotary embedding of q and k with learned mixed frequencies (Heo et al., ECCV 2024).</summary>
    RopeMixed,
    /// <summary>Contextual position encoding (Golovneva et al., 2024) over the flattened patch tokens.</summary>
    Cope,
    /// <summary>2D semantic-aware position encoding (Chen et al., 2025), the subject of this library.</summary>
    Sape2,
}

/// <summary>Which vector SaPE² projects on its embedding tables (Eq. 13).</summary>
public enum Sape2Mode
{
    /// <summary>Q mode: <c>z = q·E</c>.</summary>
    Query,
    /// <summary>K mode: <c>z = k·E</c>, the paper's best (93.98 vs 90.17 top-1 on CIFAR-10).</summary>
    Key,
}
