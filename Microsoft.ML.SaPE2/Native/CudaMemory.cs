using System.Runtime.InteropServices;

namespace Microsoft.ML.SaPE2.Native;

/// <summary>
/// Free and total memory of the current CUDA device, from the CUDA runtime's <c>cudaMemGetInfo</c>: TorchSharp does
/// not report it. Null where no CUDA runtime library loads or the call fails.
/// </summary>
internal static class CudaMemory
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int MemGetInfo(out nuint free, out nuint total);

    private static readonly string[] RuntimeLibraries = { "libcudart.so.12", "libcudart.so.13", "libcudart.so", "cudart64_12.dll" };

    /// <summary>(free, total) bytes of the current device, or null.</summary>
    public static (long Free, long Total)? Query()
    {
        foreach (var name in RuntimeLibraries)
        {
            if (!NativeLibrary.TryLoad(name, out var library) || !NativeLibrary.TryGetExport(library, "cudaMemGetInfo", out var address))
                continue;
            var getInfo = Marshal.GetDelegateForFunctionPointer<MemGetInfo>(address);
            if (getInfo(out var free, out var total) == 0) return ((long)free, (long)total);
        }
        return null;
    }
}
