using SkiaSharp;

namespace Microsoft.ML.SaPE2.Explain;

/// <summary>
/// Text of one size and colour for the pictures. SkiaSharp keeps the size on an <see cref="SKFont"/> and the colour on an
/// <see cref="SKPaint"/>; the font-and-paint <c>DrawText</c> used here exists in SkiaSharp 2.88 and 3, the two that ML.NET's
/// releases bring.
/// </summary>
internal sealed class Label : IDisposable
{
    private readonly SKFont font;
    private readonly SKPaint paint;

    public Label(float size, SKColor? color = null)
    {
        font = new SKFont(SKTypeface.Default, size);
        paint = new SKPaint { Color = color ?? SKColors.Black, IsAntialias = true };
    }

    public float Size => font.Size;

    public void Draw(SKCanvas canvas, string text, float x, float y) => canvas.DrawText(text, x, y, font, paint);

    public void Dispose()
    {
        font.Dispose();
        paint.Dispose();
    }
}
