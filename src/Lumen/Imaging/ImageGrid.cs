using SkiaSharp;

namespace Lumen.Imaging;

/// <summary>One image in a grid with the caption drawn under it.</summary>
/// <param name="Image">The image, drawn scaled to the cell size.</param>
/// <param name="Caption">Text under the image (may contain several lines separated by '\n').</param>
/// <param name="Highlight">When true the caption is drawn in red (for example a wrong prediction).</param>
public sealed record GridCell(RgbImage Image, string Caption, bool Highlight = false);

/// <summary>Draws images in a captioned grid: batches, top losses, confused pairs.</summary>
public static class ImageGrid
{
    private static readonly Lazy<SKTypeface> Typeface = new(LoadTypeface);

    /// <summary>The typeface used for all captions (DejaVu Sans, embedded so text renders without system fonts).</summary>
    public static SKTypeface CaptionTypeface => Typeface.Value;

    /// <summary>
    /// Renders the cells row by row, <paramref name="columns"/> per row (default: a near-square grid),
    /// each image scaled to <paramref name="cellSize"/> pixels, with an optional title on top.
    /// </summary>
    public static RgbImage Render(IReadOnlyList<GridCell> cells, int cellSize = 160, int columns = 0, string? title = null)
    {
        if (cells.Count == 0) throw new ArgumentException("nothing to draw: the grid has no cells", nameof(cells));
        if (cellSize < 16) throw new ArgumentOutOfRangeException(nameof(cellSize), "cells must be at least 16 pixels");
        if (columns <= 0) columns = (int)Math.Ceiling(Math.Sqrt(cells.Count));
        int rows = (cells.Count + columns - 1) / columns;
        const int pad = 8;
        float captionSize = Math.Clamp(cellSize / 11f, 10f, 16f);
        int captionLines = cells.Max(c => c.Caption.Split('\n').Length);
        int captionHeight = (int)Math.Ceiling(captionLines * captionSize * 1.25f) + 4;
        int titleHeight = title is null ? 0 : (int)(captionSize * 2.2f);
        int width = columns * (cellSize + pad) + pad;
        int height = titleHeight + rows * (cellSize + captionHeight + pad) + pad;

        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var font = new SKFont(CaptionTypeface, captionSize);
            using var textPaint = new SKPaint { IsAntialias = true };
            if (title is not null)
            {
                using var titleFont = new SKFont(CaptionTypeface, captionSize * 1.4f);
                textPaint.Color = new SKColor(0x20, 0x20, 0x20);
                canvas.DrawText(Fit(title, titleFont, width - 2 * pad), pad, titleHeight - captionSize * 0.6f, titleFont, textPaint);
            }
            var sampling = new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
            for (int i = 0; i < cells.Count; i++)
            {
                int col = i % columns, row = i / columns;
                float x = pad + col * (cellSize + pad);
                float y = titleHeight + pad + row * (cellSize + captionHeight + pad);
                var cell = cells[i];
                // Keep the aspect ratio inside the square cell.
                float scale = Math.Min((float)cellSize / cell.Image.Width, (float)cellSize / cell.Image.Height);
                float dw = cell.Image.Width * scale, dh = cell.Image.Height * scale;
                var dest = SKRect.Create(x + (cellSize - dw) / 2, y + (cellSize - dh) / 2, dw, dh);
                cell.Image.WithSkImage(img => { canvas.DrawImage(img, dest, sampling); return 0; });
                textPaint.Color = cell.Highlight ? new SKColor(0xC0, 0x20, 0x20) : new SKColor(0x20, 0x20, 0x20);
                string[] lines = cell.Caption.Split('\n');
                for (int l = 0; l < lines.Length; l++)
                {
                    var (line, size) = FitLine(lines[l], captionSize, cellSize);
                    using var lineFont = new SKFont(CaptionTypeface, size);
                    float tw = lineFont.MeasureText(line);
                    canvas.DrawText(line, x + (cellSize - tw) / 2, y + cellSize + captionSize * (1.1f + 1.25f * l), lineFont, textPaint);
                }
            }
        }
        // The canvas was cleared to opaque white, so premultiplied and plain RGBA bytes are the same.
        return RgbImage.FromBitmap(bitmap);
    }

    /// <summary>Smallest caption font, as a fraction of the normal size, before text is shortened.</summary>
    internal const float MinCaptionScale = 0.6f;

    /// <summary>
    /// How a caption line is drawn in <paramref name="maxWidth"/> pixels: whole, in a smaller font if
    /// needed (down to <see cref="MinCaptionScale"/> of <paramref name="size"/>), so class names stay
    /// readable; only text too long even then is shortened with an ellipsis.
    /// </summary>
    internal static (string Text, float Size) FitLine(string text, float size, float maxWidth)
    {
        using var font = new SKFont(CaptionTypeface, size);
        float width = font.MeasureText(text);
        if (width <= maxWidth) return (text, size);
        float smaller = size * maxWidth / width;
        if (smaller >= size * MinCaptionScale) return (text, smaller);
        using var small = new SKFont(CaptionTypeface, size * MinCaptionScale);
        return (Fit(text, small, maxWidth), size * MinCaptionScale);
    }

    /// <summary>Shortens text with an ellipsis until it fits <paramref name="maxWidth"/> pixels.</summary>
    private static string Fit(string text, SKFont font, float maxWidth)
    {
        if (font.MeasureText(text) <= maxWidth) return text;
        for (int n = text.Length - 1; n > 0; n--)
        {
            string candidate = text[..n] + "…";
            if (font.MeasureText(candidate) <= maxWidth) return candidate;
        }
        return "…";
    }

    private static SKTypeface LoadTypeface()
    {
        using Stream? stream = typeof(ImageGrid).Assembly.GetManifestResourceStream("Lumen.DejaVuSans.ttf");
        if (stream is not null)
        {
            using var data = SKData.Create(stream);
            SKTypeface? face = SKTypeface.FromData(data);
            if (face is not null) return face;
        }
        return SKTypeface.Default;
    }
}
