using SkiaSharp;

namespace Microsoft.ML.SaPE2.Explain;

/// <summary>Drawing helpers shared by the pictures: a perceptual colour map, labels, and atomic PNG writing.</summary>
internal static class Heatmap
{
    // Viridis, sampled at five stops and interpolated: dark blue (low) → green → yellow (high).
    private static readonly SKColor[] Stops =
        { new(68, 1, 84), new(59, 82, 139), new(33, 145, 140), new(94, 201, 98), new(253, 231, 37) };

    /// <summary>The colour of <paramref name="value"/> within [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static SKColor Color(double value, double low, double high, byte alpha = 255)
    {
        double t = high > low ? Math.Clamp((value - low) / (high - low), 0, 1) : 0.5;
        if (double.IsNaN(t)) t = 0;
        double scaled = t * (Stops.Length - 1);
        int i = Math.Min((int)scaled, Stops.Length - 2);
        double f = scaled - i;
        SKColor a = Stops[i], b = Stops[i + 1];
        return new SKColor((byte)(a.Red + f * (b.Red - a.Red)), (byte)(a.Green + f * (b.Green - a.Green)), (byte)(a.Blue + f * (b.Blue - a.Blue)),
            alpha);
    }

    /// <summary>Encodes the surface as PNG and writes it atomically (a temporary file moved over the target).</summary>
    public static void SavePng(SKSurface surface, string path)
    {
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, temporary => File.WriteAllBytes(temporary, data.ToArray()));
    }
}
