using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Modeling.PositionEncodings;

/// <summary>
/// A fixed table of a position encoding (2D sin-cos, RoPE-Axial's rotations) for the model's own grid, built once per
/// device and dtype instead of in every forward pass. Safe for concurrent predictions; owned and disposed by its module.
/// Not a registered buffer: it is not a weight, so model files stay as they were.
/// </summary>
internal sealed class FixedTableCache(Func<Device, ScalarType, Tensor> build) : IDisposable
{
    private readonly Dictionary<(DeviceType Type, int Index, ScalarType DType), Tensor> tables = new();

    /// <summary>The table on <paramref name="device"/> in <paramref name="dtype"/>; the caller must not dispose it.</summary>
    public Tensor Get(Device device, ScalarType dtype)
    {
        lock (tables)
        {
            var key = (device.type, device.index, dtype);
            if (!tables.TryGetValue(key, out var table))
            {
                using (NewDisposeScope())
                using (no_grad())
                    table = build(device, dtype).MoveToOuterDisposeScope();
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
