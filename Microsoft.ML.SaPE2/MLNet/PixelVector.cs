using Microsoft.ML.SaPE2.Data;

namespace Microsoft.ML.SaPE2;

/// <summary>
/// An image given as a vector of pixel values (<see cref="ImageColumnKind.Pixels"/>): 0–255 whole numbers, channel-major
/// (all of the first channel row by row, then the next), as ML.NET's <c>ExtractPixels</c> writes them with its defaults.
/// No resizing: the vector must be the model's C·H·W.
/// </summary>
internal static class PixelVector
{
    /// <summary>The model's bytes; throws naming <paramref name="where"/> for another length or a value that is not a pixel.</summary>
    public static byte[] ToModelPixels(float[] values, ImageFormat format, ImageRowLocation where)
    {
        if (values.Length != format.PixelCount)
            throw new InvalidImageException(where.ToString(), $"holds {values.Length} pixel values; the model takes " +
                $"{format.Channels}×{format.Height}×{format.Width} = {format.PixelCount} (channels × height × width)", where.Row, where.Column,
                where.DataName);
        var bytes = new byte[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            float value = values[i];
            if (!(value >= 0 && value <= 255) || value != MathF.Floor(value))
                throw new InvalidImageException(where.ToString(), $"has pixel value {value} at index {i}, not a whole number from 0 to 255 " +
                    "(ExtractPixels with its default scale 1 and offset 0 gives those)", where.Row, where.Column, where.DataName);
            bytes[i] = (byte)value;
        }
        return bytes;
    }

    /// <summary>
    /// The square image a vector of <paramref name="length"/> values holds: S² values are one gray S×S image, 3·S² an RGB one (no
    /// length is both). Any other length needs ImageHeight, ImageWidth and Channels set.
    /// </summary>
    public static ImageShape Probe(int length, ImageRowLocation where)
    {
        foreach (int channels in new[] { 1, 3 })
        {
            int side = (int)Math.Round(Math.Sqrt(length / (double)channels));
            if (side > 0 && channels * side * side == length) return new ImageShape(side, side, Grayscale: channels == 1);
        }
        throw new InvalidImageException(where.ToString(), $"has {length} pixel values: not a square gray (S²) or RGB (3·S²) image; " +
            "set the trainer's ImageHeight, ImageWidth and Channels", where.Row, where.Column, where.DataName);
    }
}
