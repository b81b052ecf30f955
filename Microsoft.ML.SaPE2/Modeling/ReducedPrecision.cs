using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling;

/// <summary>
/// What a bf16 model (<see cref="TrainingPrecision.BFloat16"/>) still computes in fp32: softmaxes and every position encoding's positions,
/// angles, gates and distances. For an fp32 or fp64 model each of these is the tensor itself, with no operation dispatched.
/// </summary>
internal static class ReducedPrecision
{
    /// <summary><paramref name="x"/> widened to fp32 when it is bf16 or fp16; otherwise itself.</summary>
    public static Tensor Widened(Tensor x) => x.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? x.to(ScalarType.Float32) : x;

    /// <summary>fp32 for bf16 and fp16; <paramref name="dtype"/> itself otherwise (fp32, fp64).</summary>
    public static ScalarType AtLeastFloat32(ScalarType dtype) => dtype is ScalarType.BFloat16 or ScalarType.Float16 ? ScalarType.Float32 : dtype;

    /// <summary><paramref name="x"/> in <paramref name="dtype"/>; itself when it already is.</summary>
    public static Tensor In(Tensor x, ScalarType dtype) => x.dtype == dtype ? x : x.to(dtype);

    /// <summary>The softmax of <paramref name="logits"/> over <paramref name="dim"/>, computed at least in fp32, returned in
    /// <paramref name="dtype"/> (that of the values it weighs).</summary>
    public static Tensor Softmax(Tensor logits, long dim, ScalarType dtype) => In(Widened(logits).softmax(dim), dtype);
}
