using System.Buffers.Binary;
using System.Text;

namespace Microsoft.ML.SaPE2.Interop.Onnx;

/// <summary>
/// Reads the protocol-buffers wire format field by field: the counterpart of <see cref="ProtoWriter"/>, as much of it as
/// an ONNX model needs. Truncated or malformed input throws <see cref="InvalidDataException"/>.
/// </summary>
internal ref struct ProtoReader
{
    private readonly ReadOnlySpan<byte> data;
    private int position;

    public ProtoReader(ReadOnlySpan<byte> data)
    {
        this.data = data;
        position = 0;
    }

    /// <summary>Moves to the next field; false at the end of the message.</summary>
    public bool Next(out int field, out int wireType)
    {
        field = wireType = 0;
        if (position >= data.Length) return false;
        ulong tag = ReadVarint();
        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        if (field <= 0) throw new InvalidDataException("A protobuf field number is 0: the file is not an ONNX model or is damaged.");
        return true;
    }

    /// <summary>A varint field's value (int64, int32, enum, bool).</summary>
    public long Int() => (long)ReadVarint();

    /// <summary>A fixed32 field as a float.</summary>
    public float Float()
    {
        var bytes = Take(4);
        return BinaryPrimitives.ReadSingleLittleEndian(bytes);
    }

    /// <summary>A length-delimited field: string, bytes, a nested message or a packed list.</summary>
    public ReadOnlySpan<byte> Bytes() => Take(checked((int)ReadVarint()));

    /// <summary>A string field.</summary>
    public string String() => Encoding.UTF8.GetString(Bytes());

    /// <summary>Skips the current field of <paramref name="wireType"/>.</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: ReadVarint(); break;
            case 1: Take(8); break;
            case 2: Bytes(); break;
            case 5: Take(4); break;
            default: throw new InvalidDataException($"Unknown protobuf wire type {wireType}: the file is damaged.");
        }
    }

    /// <summary>Appends a repeated int64 field, packed (wire type 2) or not, to <paramref name="values"/>.</summary>
    public void Int64s(int wireType, List<long> values)
    {
        if (wireType != 2) { values.Add(Int()); return; }
        var packed = new ProtoReader(Bytes());
        while (packed.position < packed.data.Length) values.Add((long)packed.ReadVarint());
    }

    /// <summary>Appends a repeated float field, packed or not, to <paramref name="values"/>.</summary>
    public void Floats(int wireType, List<float> values)
    {
        if (wireType != 2) { values.Add(Float()); return; }
        var packed = Bytes();
        if (packed.Length % 4 != 0) throw new InvalidDataException("A packed float list is not a whole number of floats.");
        for (int i = 0; i < packed.Length; i += 4) values.Add(BinaryPrimitives.ReadSingleLittleEndian(packed.Slice(i, 4)));
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || position + count > data.Length) throw new InvalidDataException("The protobuf message ends early: the file is truncated.");
        var slice = data.Slice(position, count);
        position += count;
        return slice;
    }

    private ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (position >= data.Length) throw new InvalidDataException("The protobuf message ends inside a number: the file is truncated.");
            byte b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new InvalidDataException("A protobuf number runs over ten bytes: the file is damaged.");
    }
}
