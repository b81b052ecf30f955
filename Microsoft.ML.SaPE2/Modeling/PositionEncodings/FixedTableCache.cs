using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// A fixed table of a position encoding (2D sin-cos, RoPE-Axial's rotations, SaPE²'s suffix-sum matrix) for the model's own
/// grid or a given size, built once per device, dtype and size instead of in every forward pass. Safe for concurrent
/// predictions; owned and disposed by its module. Not a registered buffer: it is not a weight, so model files stay as they were.
/// </summary>
internal sealed class FixedTableCache(Func<Device, ScalarType, long, Tensor> build) : IDisposable
{
    private readonly Dictionary<(DeviceType Type, int Index, ScalarType DType, long Size), Tensor> tables = new();

    /// <summary>A cache of one table per device and dtype.</summary>
    public FixedTableCache(Func<Device, ScalarType, Tensor> build) : this((device, dtype, _) => build(device, dtype)) { }

    /// <summary>The table on <paramref name="device"/> in <paramref name="dtype"/> (of <paramref name="size"/> when the builder
    /// takes one); the caller must not dispose it.</summary>
    public Tensor Get(Device device, ScalarType dtype, long size = 0)
    {
        lock (tables)
        {
            var key = (device.type, device.index, dtype, size);
            if (!tables.TryGetValue(key, out var table))
            {
                using (NewDisposeScope())
                using (no_grad())
                    table = build(device, dtype, size).MoveToOuterDisposeScope();
                tables[key] = table.DetachFromDisposeScope();
            }
            return table;
        }
    }

    public void Dispose()
    {
        lock (tables)
        {
            foreach (var table in tables.Values) table.Dispose();
            tables.Clear();
        }
    }
}
