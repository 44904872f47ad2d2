using SkiaSharp;

namespace Lumen.Imaging;

/// <summary>A rectangle to draw on an image, in its pixels, with a caption above it.</summary>
/// <param name="XMin">Left edge.</param>
/// <param name="YMin">Top edge.</param>
/// <param name="XMax">Right edge.</param>
/// <param name="YMax">Bottom edge.</param>
/// <param name="Caption">Text drawn on the box's top edge (empty for none).</param>
/// <param name="Colour">Index into the palette (class 0 green, as polyp outlines are usually drawn).</param>
/// <param name="Dashed">True for a dashed outline (ground truth beside predictions).</param>
public sealed record DrawnBox(float XMin, float YMin, float XMax, float YMax, string Caption, int Colour = 0, bool Dashed = false);

/// <summary>Draws labelled boxes over images (show-batch, predictions, reports).</summary>
public static class BoxDrawing
{
    private static readonly SKColor[] Palette =
    {
        new(0, 230, 64), new(255, 64, 64), new(64, 128, 255), new(255, 210, 0), new(230, 0, 230), new(0, 220, 220),
    };

    /// <summary>The colour of palette entry <paramref name="index"/> (wrapping).</summary>
    public static (byte R, byte G, byte B) Colour(int index)
    {
        var c = Palette[((index % Palette.Length) + Palette.Length) % Palette.Length];
        return (c.Red, c.Green, c.Blue);
    }

    /// <summary>A copy of <paramref name="image"/> with <paramref name="boxes"/> drawn; line width and text scale with the image.</summary>
    public static RgbImage Draw(RgbImage image, IReadOnlyList<DrawnBox> boxes)
    {
        if (boxes.Count == 0) return image;
        float scale = Math.Max(image.Width, image.Height) / 400f;
        float line = Math.Max(1.5f, 2.5f * scale), textSize = Math.Max(9f, 13f * scale);
        using var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            image.WithSkImage(img => { canvas.DrawImage(img, 0, 0); return 0; });
            using var font = new SKFont(ImageGrid.CaptionTypeface, textSize);
            foreach (var box in boxes)
            {
                var colour = Palette[((box.Colour % Palette.Length) + Palette.Length) % Palette.Length];
                using var effect = box.Dashed ? SKPathEffect.CreateDash(new[] { 4 * line, 3 * line }, 0) : null;
                using var stroke = new SKPaint { Color = colour, Style = SKPaintStyle.Stroke, StrokeWidth = line, IsAntialias = true, PathEffect = effect };
                var rect = new SKRect(box.XMin, box.YMin, box.XMax, box.YMax);
                canvas.DrawRect(rect, stroke);
                if (box.Caption.Length == 0) continue;
                float width = font.MeasureText(box.Caption);
                float top = Math.Max(0, rect.Top - textSize - 2);
                using var fill = new SKPaint { Color = colour, Style = SKPaintStyle.Fill };
                canvas.DrawRect(new SKRect(rect.Left, top, rect.Left + width + 4, top + textSize + 2), fill);
                using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
                canvas.DrawText(box.Caption, rect.Left + 2, top + textSize - 1, font, text);
            }
        }
        return RgbImage.FromBitmap(bitmap);
    }
}
