using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Microsoft.ML.SaPE2.Interop;

/// <summary>One tensor of a safetensors file: its name, element type, shape and little-endian bytes.</summary>
internal sealed record SafetensorsEntry(string Name, ScalarType DType, long[] Shape, byte[] Data)
{
    /// <summary>The shape as PyTorch prints it: [384, 3, 4, 4].</summary>
    public string ShapeText => $"[{string.Join(", ", Shape)}]";

    /// <summary>A new CPU tensor of the entry's type and shape holding its bytes; the caller owns it.</summary>
    public Tensor ToTensor()
    {
        var tensor = empty(Shape, DType);
        Data.CopyTo(tensor.bytes);
        return tensor;
    }
}

/// <summary>
/// The safetensors format (Hugging Face's, the one PyTorch, timm and PyBridge read): an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range (and a string-to-string "__metadata__"), then the
/// raw tensor bytes in that order. Written through a temporary file; read with every range and size checked.
/// </summary>
internal static class SafetensorsFile
{
    private const long MaxHeaderBytes = 100L << 20;

    private static readonly (ScalarType Type, string Name, int Size)[] Types =
    [
        (ScalarType.Float32, "F32", 4), (ScalarType.Float64, "F64", 8), (ScalarType.Float16, "F16", 2), (ScalarType.BFloat16, "BF16", 2),
        (ScalarType.Int64, "I64", 8), (ScalarType.Int32, "I32", 4), (ScalarType.Byte, "U8", 1), (ScalarType.Bool, "BOOL", 1),
    ];

    /// <summary>Writes <paramref name="entries"/> (in their order) and <paramref name="metadata"/> to <paramref name="path"/>; a failure
    /// leaves no file behind and an existing file as it was.</summary>
    public static void Write(string path, IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject(metadata.Select(m =>
            KeyValuePair.Create(m.Key, (JsonNode?)JsonValue.Create(m.Value)))) };
        long offset = 0;
        foreach (var entry in entries)
        {
            var type = Types.Single(t => t.Type == entry.DType);
            if (entry.Data.LongLength != ElementCount(entry.Shape) * type.Size)
                throw new ArgumentException($"Tensor '{entry.Name}' {entry.ShapeText} of {type.Name} needs {ElementCount(entry.Shape) * type.Size} " +
                    $"bytes; got {entry.Data.LongLength}.");
            header[entry.Name] = new JsonObject
            {
                ["dtype"] = type.Name, ["shape"] = new JsonArray(entry.Shape.Select(s => (JsonNode?)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + entry.Data.LongLength),
            };
            offset += entry.Data.LongLength;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;   // the data starts 8-byte aligned, as the reference writer does
        AtomicFile.Write(path, temporary =>
        {
            using var stream = File.Create(temporary);
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            stream.Write(length);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var entry in entries) stream.Write(entry.Data);
        });
    }

    /// <summary>Every tensor of <paramref name="path"/> and its metadata; a file that is not safetensors, or whose ranges or sizes do
    /// not add up, is refused naming the file and what is wrong.</summary>
    public static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"The safetensors file '{path}' does not exist.", path);
        var bytes = File.ReadAllBytes(path);
        InvalidDataException Bad(string problem) => new($"'{path}' is not a readable safetensors file: {problem}");
        if (bytes.Length < 8) throw Bad($"it has {bytes.Length} bytes, fewer than the 8 of the header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeaderBytes || (long)headerLength > bytes.Length - 8)
            throw Bad($"its header length {headerLength} does not fit in the file's {bytes.Length} bytes.");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength)) as JsonObject ?? throw Bad("its header is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw Bad($"its header is not JSON ({e.Message}).");
        }
        long dataStart = 8 + (long)headerLength, dataLength = bytes.Length - dataStart;
        var metadata = new Dictionary<string, string>();
        var entries = new List<SafetensorsEntry>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (key, value) in node as JsonObject ?? throw Bad("__metadata__ is not an object."))
                    metadata[key] = value is JsonValue v && v.TryGetValue(out string? text) ? text : throw Bad($"metadata '{key}' is not a string.");
                continue;
            }
            try
            {
                string dtype = node!["dtype"]!.GetValue<string>();
                var type = Types.FirstOrDefault(t => t.Name == dtype);
                if (type.Name is null) throw Bad($"tensor '{name}' has dtype {dtype}, which this reader does not know.");
                long[] shape = node["shape"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray();
                long begin = node["data_offsets"]![0]!.GetValue<long>(), end = node["data_offsets"]![1]!.GetValue<long>();
                if (shape.Any(s => s < 0) || begin < 0 || end < begin || end > dataLength)
                    throw Bad($"tensor '{name}' has bytes {begin}–{end} of a {dataLength}-byte data section, or a negative size.");
                if (end - begin != ElementCount(shape) * type.Size)
                    throw Bad($"tensor '{name}' [{string.Join(", ", shape)}] of {dtype} needs {ElementCount(shape) * type.Size} bytes; its range " +
                        $"holds {end - begin}.");
                entries.Add(new SafetensorsEntry(name, type.Type, shape, bytes.AsSpan((int)(dataStart + begin), (int)(end - begin)).ToArray()));
            }
            catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException or IndexOutOfRangeException
                                          or ArgumentOutOfRangeException)
            {
                throw Bad($"tensor '{name}' lacks a valid dtype, shape or data_offsets ({e.Message}).");
            }
        }
        return (entries, metadata);
    }

    /// <summary>The bytes of a CPU copy of <paramref name="tensor"/>, row-major, little-endian.</summary>
    public static SafetensorsEntry Entry(string name, Tensor tensor)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        var data = new byte[cpu.NumberOfElements * cpu.ElementSize];
        cpu.bytes.CopyTo(data);
        return new SafetensorsEntry(name, cpu.dtype, cpu.shape, data);
    }

    private static long ElementCount(long[] shape) => shape.Aggregate(1L, (product, side) => product * side);
}
