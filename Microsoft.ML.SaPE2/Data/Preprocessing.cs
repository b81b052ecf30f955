using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Data;

/// <summary>The one conversion from decoded bytes to model input, shared by training, evaluation and prediction.</summary>
internal static class Preprocessing
{
    /// <summary>(B·C·H·W) bytes to a float32 tensor (B, C, H, W) in [0, 1], on the CPU.</summary>
    public static Tensor ToUnitRange(byte[] pixels, int count, ImageFormat format)
    {
        using var scope = NewDisposeScope();
        var bytes = tensor(pixels, new long[] { count, format.Channels, format.Height, format.Width }, dtype: ScalarType.Byte);
        using var maximum = 255f.ToScalar();   // an owned Scalar, alive through the native call (TorchSharpScalarTests)
        return bytes.to(ScalarType.Float32).div_(maximum).MoveToOuterDisposeScope();
    }

    /// <summary>(B, C, H, W) in [0, 1] to normalised model input.</summary>
    public static Tensor Normalize(Tensor unit, Normalization normalization)
    {
        using var scope = NewDisposeScope();
        var mean = tensor(normalization.Mean).view(1, -1, 1, 1);
        var std = tensor(normalization.Std).view(1, -1, 1, 1);
        return ((unit - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>Decoded images to normalised model input (B, C, H, W) on the CPU: <see cref="ToUnitRange"/> then <see cref="Normalize"/>.</summary>
    public static Tensor ToModelInput(byte[] pixels, int count, ImageFormat format, Normalization normalization)
    {
        using var scope = NewDisposeScope();
        return Normalize(ToUnitRange(pixels, count, format), normalization).MoveToOuterDisposeScope();
    }
}
