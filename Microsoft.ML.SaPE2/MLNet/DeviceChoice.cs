using Microsoft.ML.Runtime;
using Microsoft.ML.SaPE2.Training;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// Which device the trainer uses, from its Options and the MLContext, as ML.NET's TorchSharp trainers read the
/// context: <c>Options.Device</c> other than "auto" wins; otherwise <c>MLContext.GpuDeviceId = N</c> asks for cuda:N,
/// and without CUDA falls back to the CPU when <c>MLContext.FallbackToCpu</c> is true (its default) or fails when it
/// is false; with neither set, "auto": CUDA when available, else the CPU.
/// </summary>
internal static class DeviceChoice
{
    /// <summary>The device text for <see cref="TrainingOptions.Device"/>, and why, for the log.</summary>
    public static (string Device, string Reason) Resolve(string optionsDevice, IHostEnvironment environment)
    {
        if (!string.Equals(optionsDevice.Trim(), "auto", StringComparison.OrdinalIgnoreCase))
            return (optionsDevice, "Options.Device");
        var (gpuDeviceId, fallbackToCpu) = MLNetInternals.DeviceRequest(environment);
        if (gpuDeviceId is not { } id) return ("auto", "automatic: CUDA when available, else the CPU");
        if (TorchSharp.torch.cuda.is_available() && id < TorchSharp.torch.cuda.device_count())
            return ($"cuda:{id}", $"MLContext.GpuDeviceId = {id}");
        if (fallbackToCpu)
            return ("cpu", $"MLContext.GpuDeviceId = {id} but CUDA device {id} is not available to TorchSharp; MLContext.FallbackToCpu = true");
        throw new InvalidOperationException($"MLContext.GpuDeviceId = {id} asks for CUDA device {id}, which is not available to TorchSharp, " +
            "and MLContext.FallbackToCpu = false. Reference a CUDA build of libtorch (TorchSharp-cuda-linux or TorchSharp-cuda-windows), " +
            "set FallbackToCpu = true, or set Options.Device = \"cpu\".");
    }

    /// <summary>Whether training with <paramref name="optionsDevice"/> would run on CUDA (an experiment sizes its search space by it).</summary>
    public static bool IsCuda(string optionsDevice, IHostEnvironment environment)
    {
        string device = Resolve(optionsDevice, environment).Device.Trim();
        return device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase)
            || (device.Equals("auto", StringComparison.OrdinalIgnoreCase) && TorchSharp.torch.cuda.is_available());
    }
}
