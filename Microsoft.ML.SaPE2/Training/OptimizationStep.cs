using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// One optimiser step of a model: soft-target cross-entropy, backward, gradient clipping and AdamW with weight decay
/// on weight matrices only (<see cref="ParameterGroups"/>), in fp32 or bf16 mixed precision (<see cref="BFloat16Compute"/>).
/// The trainer and the benchmarks share it.
/// </summary>
internal sealed class OptimizationStep : IDisposable
{
    private readonly VisionTransformer model;
    private readonly double gradientClipNorm;
    private readonly BFloat16Compute? bfloat16;
    private readonly Sape2Attention[] sape2Layers;   // of the model that runs the backward: their failures are raised after it
    private readonly double[] rateScales;            // per parameter group: 1, or the pretrained backbone's scale

    /// <summary>Creates AdamW for <paramref name="model"/> (already on its device).</summary>
    /// <param name="model">The model.</param>
    /// <param name="learningRate">The initial rate (the schedule sets each step's).</param>
    /// <param name="weightDecay">AdamW's decay of weight matrices.</param>
    /// <param name="gradientClipNorm">Largest gradient norm (0: no clipping).</param>
    /// <param name="precision">fp32 or bf16 mixed precision.</param>
    /// <param name="rateScaleOf">Each parameter's learning rate as a fraction of <paramref name="learningRate"/>, by state-dict name
    /// (null: 1 for all): a pretrained backbone's lower rate, layer-wise decay.</param>
    public OptimizationStep(VisionTransformer model, double learningRate, double weightDecay, double gradientClipNorm,
        TrainingPrecision precision = TrainingPrecision.Float32, Func<string, double>? rateScaleOf = null)
    {
        this.model = model;
        this.gradientClipNorm = gradientClipNorm;
        bfloat16 = precision == TrainingPrecision.BFloat16 ? new BFloat16Compute(model) : null;
        sape2Layers = (bfloat16?.Copy ?? model).modules().OfType<Sape2Attention>().ToArray();
        var groups = ParameterGroups.ByRate(model, rateScaleOf ?? (_ => 1.0));
        rateScales = groups.Select(g => g.RateScale).ToArray();
        Optimizer = optim.AdamW(groups.Select(g =>
            new AdamW.ParamGroup(g.Parameters, new AdamW.Options { weight_decay = g.Decayed ? weightDecay : 0 })), lr: learningRate);
    }

    /// <summary>Call after weights were loaded into the model (a resume): a bf16 copy takes them, and their batch-norm statistics.</summary>
    public void ModelWeightsLoaded() => bfloat16?.CopyAllFromMaster();

    /// <summary>The optimiser, for saving and restoring its state.</summary>
    public AdamW Optimizer { get; }

    /// <summary>
    /// Trains on one batch at learning rate <paramref name="learningRate"/>; returns the loss and how many of the
    /// (unmixed) <paramref name="labels"/> the model predicted. Inputs must be on the model's device.
    /// </summary>
    /// <param name="images">(B, C, H, W) normalised images.</param>
    /// <param name="targets">(B, classes) soft targets.</param>
    /// <param name="labels">(B) class indices.</param>
    /// <param name="learningRate">The rate of this step (from the schedule).</param>
    public (double Loss, long Correct) Run(Tensor images, Tensor targets, Tensor labels, double learningRate)
    {
        using var scope = NewDisposeScope();
        foreach (var (group, scale) in Optimizer.ParamGroups.Zip(rateScales)) group.LearningRate = learningRate * scale;
        var logits = ReducedPrecision.Widened(bfloat16?.Forward(images) ?? model.forward(images));   // (B, classes), fp32
        var loss = -(targets * logits.log_softmax(-1)).sum(-1).mean();               // soft-target cross-entropy
        Optimizer.zero_grad();
        bfloat16?.ZeroGradients();
        loss.backward();
        foreach (var layer in sape2Layers) layer.ThrowIfBackwardFailed();
        bfloat16?.CopyGradientsToMaster();
        if (gradientClipNorm > 0) nn.utils.clip_grad_norm_(model.parameters().Where(p => p.requires_grad), gradientClipNorm);
        Optimizer.step();
        bfloat16?.CopyWeightsFromMaster();
        long correct = logits.argmax(-1).eq(labels).sum().ToInt64();
        return (loss.ToDouble(), correct);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Optimizer.Dispose();
        bfloat16?.Dispose();
    }
}
