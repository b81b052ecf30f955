using Microsoft.ML.SaPE2.Modeling;
using Microsoft.ML.SaPE2.Modeling.PositionEncodings;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>
/// bf16 mixed-precision training (<see cref="TrainingPrecision.BFloat16"/>) without autocast, which TorchSharp lacks: a bf16 copy
/// of the model runs the forward and backward; its gradients, widened to fp32, become the fp32 master model's, which AdamW updates
/// (its state in fp32 too); the copy then takes the new weights. Layer and batch norms keep fp32 weights (bf16 in, statistics in
/// fp32), as do RoPE-Mixed's learned frequencies, and the model computes its softmaxes and every encoding's positions, angles,
/// gates and distances in fp32 whatever its dtype. bf16 needs no loss
/// scaling: its exponent range is fp32's.
/// </summary>
internal sealed class BFloat16Compute : IDisposable
{
    private readonly VisionTransformer master;
    private readonly (Parameter Master, Parameter Copy)[] parameters;
    private readonly (Tensor Master, Tensor Copy)[] buffers;

    /// <summary>Makes the bf16 copy of <paramref name="master"/> (fp32, already on its device).</summary>
    public BFloat16Compute(VisionTransformer master)
    {
        this.master = master;
        Copy = new VisionTransformer(master.Config, initialize: false);
        Copy.to(master.parameters().First().device);
        Copy.to(ScalarType.BFloat16);
        foreach (var module in Copy.modules())
            if (module is LayerNorm or BatchNorm2d or RopeMixed) module.to(ScalarType.Float32);   // RopeMixed: its frequencies make angles
        parameters = master.parameters().Zip(Copy.parameters()).ToArray();
        buffers = master.buffers().Zip(Copy.buffers()).ToArray();
        CopyAllFromMaster();
    }

    /// <summary>Takes the master's weights and batch-norm statistics whole: at the start, and after weights were loaded into the
    /// master (a resume), so the next step computes on them and cannot write the copy's stale statistics back.</summary>
    public void CopyAllFromMaster()
    {
        using var noGrad = no_grad();
        foreach (var (from, to) in buffers) to.copy_(from);
        CopyWeightsFromMaster();
    }

    /// <summary>The bf16 copy (tests read it).</summary>
    internal VisionTransformer Copy { get; }

    /// <summary>The copy's logits (B, classes), in bf16, for fp32 <paramref name="images"/>; the copy trains as the master does.</summary>
    public Tensor Forward(Tensor images)
    {
        Copy.train(master.training);
        return Copy.forward(images.to(ScalarType.BFloat16));
    }

    /// <summary>Clears the copy's gradients before a backward.</summary>
    public void ZeroGradients()
    {
        foreach (var (_, copy) in parameters) copy.grad = null;
    }

    /// <summary>Gives the master the copy's gradients in fp32, and its batch-norm statistics.</summary>
    public void CopyGradientsToMaster()
    {
        using var noGrad = no_grad();
        foreach (var (master, copy) in parameters)
        {
            using var gradient = copy.grad;
            master.grad = gradient?.to(ScalarType.Float32);
        }
        foreach (var (to, from) in buffers) to.copy_(from);
    }

    /// <summary>Rounds the master's weights into the copy (after each optimiser step).</summary>
    public void CopyWeightsFromMaster()
    {
        using var noGrad = no_grad();
        foreach (var (master, copy) in parameters) copy.copy_(master);
    }

    public void Dispose() => Copy.Dispose();
}
