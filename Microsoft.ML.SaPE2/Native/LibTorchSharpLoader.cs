using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Microsoft.ML.SaPE2.Native;

/// <summary>
/// Makes TorchSharp's native library load on Linux systems whose libstdc++ is older than it asks for (Debian 12,
/// Ubuntu 22.04: up to GLIBCXX_3.4.30), whatever way the library is consumed.
/// </summary>
/// <remarks>
/// TorchSharp 0.107.0's libLibTorchSharp.so needs GLIBCXX_3.4.32 only for a marker symbol that nothing relocates, but
/// the loader refuses the whole library, and TorchSharp then reports a misleading "doesn't contain a reference to
/// libtorch-cpu". The package's build targets patch the build output; a project that references this library's
/// project from another folder never runs them. So, when the runtime's own search for TorchSharp's native library
/// fails, this writes a copy with that version need marked weak beside the original (or, in a read-only folder, in a
/// per-user cache, after loading the original's neighbours) and hands the runtime that copy. Nothing changes where the
/// normal load works.
/// </remarks>
internal static class LibTorchSharpLoader
{
    private const string LibraryName = "LibTorchSharp";
    private const string FileName = "libLibTorchSharp.so";
    private static readonly string[] WeakVersions = { "GLIBCXX_3.4.32" };
    private static readonly object Gate = new();
    private static IntPtr loaded;

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "The hook must be in place before TorchSharp first loads its native library, " +
        "which any call into this library can trigger; registering it does no other work.")]
    internal static void Register()
    {
        if (OperatingSystem.IsLinux()) AssemblyLoadContext.Default.ResolvingUnmanagedDll += Resolve;
    }

    private static IntPtr Resolve(Assembly assembly, string name)
    {
        if (assembly.GetName().Name != "TorchSharp" || !name.Contains(LibraryName, StringComparison.Ordinal)) return IntPtr.Zero;
        lock (Gate)
        {
            if (loaded == IntPtr.Zero) loaded = LoadPatched(assembly) ?? IntPtr.Zero;
            return loaded;
        }
    }

    /// <summary>The original library beside the app or TorchSharp, patched and loaded; null when there is none to patch.</summary>
    private static IntPtr? LoadPatched(Assembly torchSharp)
    {
        string? original = Candidates(torchSharp).FirstOrDefault(File.Exists);
        if (original is null) return null;
        byte[] elf = File.ReadAllBytes(original);
        if (Sape2ElfVersionNeeds.MarkWeak(elf, WeakVersions) == 0) return null;   // not the failure this fixes
        string folder = Path.GetDirectoryName(original)!;
        string? patched = TryWrite(Path.Combine(folder, "libLibTorchSharp.sape2-weak.so"), elf);
        if (patched is null)
        {
            string cache = Path.Combine(Path.GetTempPath(), $"sape2-native-{Environment.UserName}", Convert.ToHexString(
                System.Security.Cryptography.SHA256.HashData(elf))[..16]);
            patched = TryWrite(Path.Combine(cache, FileName), elf);
            if (patched is null) return null;
            // Away from its folder the copy cannot find its libtorch neighbours by $ORIGIN: load them first, by path.
            foreach (var neighbour in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
                NativeLibrary.TryLoad(Path.Combine(folder, neighbour), out _);
        }
        return NativeLibrary.TryLoad(patched, out var handle) ? handle : null;
    }

    private static IEnumerable<string> Candidates(Assembly torchSharp)
    {
        foreach (var folder in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(torchSharp.Location) ?? "" })
        {
            yield return Path.Combine(folder, FileName);
            yield return Path.Combine(folder, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", FileName);
            yield return Path.Combine(folder, "runtimes", $"linux-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}",
                "native", FileName);
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically unless an identical file is there; null when it
    /// cannot.</summary>
    private static string? TryWrite(string path, byte[] bytes)
    {
        try
        {
            if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes)) return path;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
            try
            {
                File.WriteAllBytes(temporary, bytes);
                File.Move(temporary, path, overwrite: true);
            }
            finally
            {
                if (File.Exists(temporary)) File.Delete(temporary);
            }
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
