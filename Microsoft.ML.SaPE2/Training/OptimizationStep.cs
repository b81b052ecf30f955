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

    /// <summary>Creates AdamW for <paramref name="model"/> (already on its device).</summary>
    public OptimizationStep(VisionTransformer model, double learningRate, double weightDecay, double gradientClipNorm,
        TrainingPrecision precision = TrainingPrecision.Float32)
    {
        this.model = model;
        this.gradientClipNorm = gradientClipNorm;
        bfloat16 = precision == TrainingPrecision.BFloat16 ? new BFloat16Compute(model) : null;
        sape2Layers = (bfloat16?.Copy ?? model).modules().OfType<Sape2Attention>().ToArray();
        var (decayed, plain) = ParameterGroups.Split(model);
        Optimizer = optim.AdamW(new[]
        {
            new AdamW.ParamGroup(decayed, new AdamW.Options { weight_decay = weightDecay }),
            new AdamW.ParamGroup(plain, new AdamW.Options { weight_decay = 0 }),
        }, lr: learningRate);
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
        foreach (var group in Optimizer.ParamGroups) group.LearningRate = learningRate;
        var logits = ReducedPrecision.Widened(bfloat16?.Forward(images) ?? model.forward(images));   // (B, classes), fp32
        var loss = -(targets * logits.log_softmax(-1)).sum(-1).mean();               // soft-target cross-entropy
        Optimizer.zero_grad();
        bfloat16?.ZeroGradients();
        loss.backward();
        foreach (var layer in sape2Layers) layer.ThrowIfBackwardFailed();
        bfloat16?.CopyGradientsToMaster();
        if (gradientClipNorm > 0) nn.utils.clip_grad_norm_(model.parameters(), gradientClipNorm);
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
