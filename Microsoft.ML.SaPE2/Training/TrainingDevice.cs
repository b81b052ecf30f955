using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Training;

/// <summary>Turns "auto", "cpu", "cuda" or "cuda:N" into a torch device, with errors that say how to get CUDA.</summary>
internal static class TrainingDevice
{
    /// <summary>Checks the text of a device choice without touching the GPU; returns (kind, index or -1).</summary>
    public static (string Kind, int Index) Parse(string device)
    {
        string text = (device ?? "").Trim().ToLowerInvariant();
        if (text is "auto" or "cpu" or "cuda") return (text, -1);
        if (text.StartsWith("cuda:") && int.TryParse(text.AsSpan(5), out int index) && index >= 0) return ("cuda", index);
        throw new ArgumentOutOfRangeException(nameof(device), $"Device must be \"auto\", \"cpu\", \"cuda\" or \"cuda:N\"; got \"{device}\".");
    }

    /// <summary>The device to train or predict on.</summary>
    /// <exception cref="InvalidOperationException">CUDA was asked for and is not available.</exception>
    public static Device Resolve(string device)
    {
        var (kind, index) = Parse(device);
        if (kind == "cpu") return CPU;
        bool available = cuda.is_available();
        if (kind == "auto") return available ? CUDA : CPU;
        if (!available)
            throw new InvalidOperationException($"Device \"{device}\" was requested but CUDA is not available to TorchSharp. Reference a CUDA " +
                $"build of libtorch — TorchSharp-cuda-linux or TorchSharp-cuda-windows (in this repository: -p:TorchBackend=cuda-linux or " +
                    $"cuda-windows) — and check the NVIDIA driver, or use Device = \"cpu\".");
        int count = cuda.device_count();
        if (index >= count)
            throw new InvalidOperationException($"Device \"{device}\" was requested but only {count} CUDA device(s) exist (cuda:0 … " +
                $"cuda:{count - 1}).");
        return index < 0 ? CUDA : torch.device(DeviceType.CUDA, index);
    }
}
