using Lumen.Imaging;
using SkiaSharp;

namespace Lumen.Data.Masks;

/// <summary>
/// A segmentation target: one class index per pixel (row-major bytes, so at most 256 classes). Masks
/// are moved with their image by nearest-neighbour sampling only, so a pixel's class is never blended.
/// </summary>
public sealed class ClassMask
{
    /// <summary>Wraps class indices; the array is used, not copied.</summary>
    public ClassMask(int width, int height, byte[] classes)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), "mask dimensions must be positive");
        if (classes.Length != width * height) throw new ArgumentException($"expected {width * height} class indices for {width}x{height}, got {classes.Length}", nameof(classes));
        Width = width;
        Height = height;
        Classes = classes;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Class index per pixel, row-major.</summary>
    public byte[] Classes { get; }

    /// <summary>The class of pixel (x, y).</summary>
    public byte this[int x, int y] => Classes[y * Width + x];

    /// <summary>Pixels per class index (length <paramref name="classes"/>).</summary>
    public long[] PixelCounts(int classes)
    {
        var counts = new long[classes];
        foreach (byte c in Classes) counts[c]++;
        return counts;
    }

    /// <summary>The mask resized to <paramref name="width"/>×<paramref name="height"/> (nearest neighbour, the whole frame).</summary>
    public ClassMask Resize(int width, int height) =>
        width == Width && height == Height ? this : Sample(SKRect.Create(0, 0, Width, Height), width, height, PadMode.Border);

    /// <summary>
    /// The region <paramref name="source"/> (which may extend past the mask) mapped onto a
    /// <paramref name="width"/>×<paramref name="height"/> output, nearest neighbour: output pixel
    /// centre (x + ½) reads the source pixel under left + (x + ½)·w/width, the point Skia's draw of the
    /// image samples, so mask and image stay aligned. Outside the mask, <paramref name="fill"/> mirrors
    /// (as Skia's mirror tiling), repeats the edge, or reads class 0.
    /// </summary>
    public ClassMask Sample(SKRect source, int width, int height, PadMode fill)
    {
        var columns = new int[width];
        for (int x = 0; x < width; x++) columns[x] = Wrap((int)Math.Floor(source.Left + (x + 0.5) * source.Width / width), Width, fill);
        var output = new byte[width * height];
        for (int y = 0; y < height; y++)
        {
            int row = Wrap((int)Math.Floor(source.Top + (y + 0.5) * source.Height / height), Height, fill);
            for (int x = 0; x < width; x++)
                output[y * width + x] = row < 0 || columns[x] < 0 ? (byte)0 : Classes[row * Width + columns[x]];
        }
        return new ClassMask(width, height, output);
    }

    /// <summary>
    /// The mask as a greyscale PNG: class indices as grey levels, or, for two classes
    /// (<paramref name="binary"/>), 0 and 255 so it can be looked at and read back as a binary mask.
    /// </summary>
    public byte[] EncodePng(bool binary)
    {
        var info = new SKImageInfo(Width, Height, SKColorType.Gray8, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        byte[] grey = binary ? Classes.Select(c => c == 0 ? (byte)0 : (byte)255).ToArray() : Classes;
        for (int y = 0; y < Height; y++)
            System.Runtime.InteropServices.Marshal.Copy(grey, y * Width, bitmap.GetPixels() + y * bitmap.RowBytes, Width);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>
    /// <paramref name="image"/> (the mask's size) with every pixel of a class other than the background
    /// tinted half-way towards that class's colour and the classes' outlines drawn solid.
    /// </summary>
    public RgbImage Overlay(RgbImage image)
    {
        if (image.Width != Width || image.Height != Height)
            throw new ArgumentException($"the image is {image.Width}x{image.Height}, the mask {Width}x{Height}", nameof(image));
        var pixels = (byte[])image.Pixels.Clone();
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                byte c = this[x, y];
                if (c == 0) continue;
                var (r, g, b) = Palette(c);
                bool edge = x == 0 || y == 0 || x == Width - 1 || y == Height - 1
                    || this[x - 1, y] != c || this[x + 1, y] != c || this[x, y - 1] != c || this[x, y + 1] != c;
                int i = (y * Width + x) * 4;
                pixels[i] = edge ? r : (byte)((pixels[i] + r) / 2);
                pixels[i + 1] = edge ? g : (byte)((pixels[i + 1] + g) / 2);
                pixels[i + 2] = edge ? b : (byte)((pixels[i + 2] + b) / 2);
            }
        return new RgbImage(Width, Height, pixels);
    }

    /// <summary>A distinct colour per class (class 1 green, as polyp outlines are usually drawn).</summary>
    private static (byte R, byte G, byte B) Palette(int c) => (c % 6) switch
    {
        1 => ((byte)0, (byte)230, (byte)64),
        2 => ((byte)255, (byte)64, (byte)64),
        3 => ((byte)64, (byte)128, (byte)255),
        4 => ((byte)255, (byte)210, (byte)0),
        5 => ((byte)230, (byte)0, (byte)230),
        _ => ((byte)0, (byte)220, (byte)220),
    };

    /// <summary>A source index brought inside [0, n), or −1 for "outside, class 0".</summary>
    private static int Wrap(int i, int n, PadMode fill)
    {
        if (i >= 0 && i < n) return i;
        switch (fill)
        {
            case PadMode.Zeros:
                return -1;
            case PadMode.Reflection:
                int period = 2 * n, m = ((i % period) + period) % period;
                return m < n ? m : period - 1 - m;
            default:
                return Math.Clamp(i, 0, n - 1);
        }
    }
}
