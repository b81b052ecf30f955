using System.Runtime.InteropServices;

namespace Sape2.Benchmarks;

/// <summary>
/// Counts the operations libtorch's dispatcher runs, through the hook the PyTorch profiler itself uses: a global
/// <c>at::RecordFunction</c> callback. The dispatcher opens a RecordFunction for every operator call that enters it —
/// a call from TorchSharp, a call a composite operator makes (<c>aten::linear</c> → <c>aten::t</c>, <c>aten::addmm</c>),
/// and every operator the autograd engine runs in the backward — and names it <c>aten::…</c>; the autograd engine opens
/// one more, not an operator, around each backward node. So the <c>aten::</c> names are exactly the operators
/// <c>torch.profiler</c> would list, each with its dispatch and allocation cost on the host.
/// </summary>
/// <remarks>
/// TorchSharp binds no profiler, so this calls libtorch's C++ entry points by their exported names:
/// <c>at::addGlobalCallback(at::RecordFunctionCallback)</c>, <c>at::removeCallback(uint64_t)</c> and
/// <c>at::RecordFunction::name() const</c>. <see cref="CallbackDefinition"/> mirrors the callback class of libtorch 2.10's
/// <c>ATen/record_function.h</c> field for field; it is trivially copyable, so the C++ ABI passes it as the C struct it mirrors.
/// The start callback returns a <c>std::unique_ptr</c> (not trivially destructible), which the Itanium ABI returns through a
/// hidden first pointer argument. One counter may be active at a time, in one process.
/// </remarks>
internal sealed unsafe class DispatchCounter : IDisposable
{
    private const string Library = "libtorch_cpu.so";
    private const int RecordScopes = 10;   // at::RecordScope::NUM_SCOPES in libtorch 2.10
    private static readonly object Gate = new();
    private static DispatchCounter? active;
    private static delegate* unmanaged<IntPtr, IntPtr> recordFunctionName;
    private static delegate* unmanaged<ulong, void> removeCallback;

    private readonly ulong handle;
    private readonly List<Dispatch> calls = new();
    private bool disposed;

    [StructLayout(LayoutKind.Sequential)]
    private struct CallbackDefinition
    {
        public delegate* unmanaged<IntPtr*, IntPtr, IntPtr*> Start;   // std::unique_ptr<ObserverContext> (*)(const RecordFunction&)
        public delegate* unmanaged<IntPtr, IntPtr, void> End;        // void (*)(const RecordFunction&, ObserverContext*)
        public double SamplingProbability;
        public fixed byte Scopes[RecordScopes];                       // std::array<bool, NUM_SCOPES>
        public byte NeedsInputs, NeedsOutputs, NeedsIds;
    }

    private DispatchCounter()
    {
        IntPtr torch = NativeLibrary.Load(LoadedPath());
        recordFunctionName = (delegate* unmanaged<IntPtr, IntPtr>)NativeLibrary.GetExport(torch, "_ZNK2at14RecordFunction4nameEv");
        removeCallback = (delegate* unmanaged<ulong, void>)NativeLibrary.GetExport(torch, "_ZN2at14removeCallbackEm");
        var add = (delegate* unmanaged<CallbackDefinition, ulong>)NativeLibrary.GetExport(torch,
            "_ZN2at17addGlobalCallbackENS_22RecordFunctionCallbackE");
        var definition = new CallbackDefinition { Start = &OnStart, End = &OnEnd, SamplingProbability = 1.0 };
        for (int i = 0; i < RecordScopes; i++) definition.Scopes[i] = 1;
        handle = add(definition);
    }

    /// <summary>Starts counting every dispatched operation in this process until <see cref="Dispose"/>.</summary>
    public static DispatchCounter Start()
    {
        lock (Gate)
        {
            if (active is not null) throw new InvalidOperationException("A DispatchCounter is already counting; dispose it first.");
            TorchSharp.torch.zeros(1).Dispose();   // libtorch is loaded before its exports are looked up
            return active = new DispatchCounter();
        }
    }

    /// <summary>
    /// One RecordFunction: its name, and for an operator how many operators enclose it (0: called by TorchSharp or by the
    /// autograd engine; 1 or more: called inside a composite operator); -1 for what is not an operator (an autograd node).
    /// </summary>
    public readonly record struct Dispatch(string Name, int Depth)
    {
        public bool IsOperator => Depth >= 0;
    }

    /// <summary>Takes what was recorded so far, in order, and starts a new list.</summary>
    public IReadOnlyList<Dispatch> Take()
    {
        lock (calls)
        {
            var taken = calls.ToList();
            calls.Clear();
            return taken;
        }
    }

    private static bool IsOperator(string name) => name.StartsWith("aten::", StringComparison.Ordinal);

    public void Dispose()
    {
        lock (Gate)
        {
            if (disposed) return;
            removeCallback(handle);
            disposed = true;
            active = null;
        }
    }

    [ThreadStatic] private static int operatorDepth;

    [UnmanagedCallersOnly]
    private static IntPtr* OnStart(IntPtr* result, IntPtr recordFunction)
    {
        *result = IntPtr.Zero;   // no ObserverContext
        string name = Marshal.PtrToStringUTF8(recordFunctionName(recordFunction)) ?? "";
        bool isOperator = IsOperator(name);
        var counter = active;
        if (counter is not null) lock (counter.calls) counter.calls.Add(new Dispatch(name, isOperator ? operatorDepth : -1));
        if (isOperator) operatorDepth++;
        return result;
    }

    [UnmanagedCallersOnly]
    private static void OnEnd(IntPtr recordFunction, IntPtr context)
    {
        if (IsOperator(Marshal.PtrToStringUTF8(recordFunctionName(recordFunction)) ?? "")) operatorDepth--;
    }

    /// <summary>The libtorch_cpu.so this process loaded (TorchSharp loads it beside its own native library).</summary>
    private static string LoadedPath()
    {
        string? path = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 6 && Path.GetFileName(f[5]) == Library).Select(f => f[5]).FirstOrDefault();
        return path ?? throw new PlatformNotSupportedException($"{Library} is not loaded in this process (the dispatch counter reads " +
            "libtorch's exports on Linux only).");
    }
}
