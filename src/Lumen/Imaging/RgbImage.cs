using SkiaSharp;
using Lumen.Files;

namespace Lumen.Imaging;

/// <summary>
/// A decoded, opaque RGB image. Pixels are stored as RGBX (4 bytes per pixel, the fourth byte 255)
/// because that is the layout Skia can draw from without a conversion.
/// </summary>
public sealed class RgbImage
{
    /// <summary>Wraps existing RGBX pixels; the array is used, not copied.</summary>
    public RgbImage(int width, int height, byte[] rgbx)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), "image dimensions must be positive");
        if (rgbx.Length != width * height * 4) throw new ArgumentException($"expected {width * height * 4} bytes for {width}x{height} RGBX, got {rgbx.Length}", nameof(rgbx));
        Width = width;
        Height = height;
        Pixels = rgbx;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>RGBX bytes, row-major, 4 per pixel.</summary>
    public byte[] Pixels { get; }

    /// <summary>The (r, g, b) of pixel (x, y).</summary>
    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            int i = (y * Width + x) * 4;
            return (Pixels[i], Pixels[i + 1], Pixels[i + 2]);
        }
    }

    /// <summary>Creates an image filled with one colour.</summary>
    public static RgbImage Filled(int width, int height, byte r, byte g, byte b)
    {
        var px = new byte[width * height * 4];
        for (int i = 0; i < px.Length; i += 4) { px[i] = r; px[i + 1] = g; px[i + 2] = b; px[i + 3] = 255; }
        return new RgbImage(width, height, px);
    }

    /// <summary>Sets pixel (x, y).</summary>
    public void Set(int x, int y, byte r, byte g, byte b)
    {
        int i = (y * Width + x) * 4;
        Pixels[i] = r; Pixels[i + 1] = g; Pixels[i + 2] = b; Pixels[i + 3] = 255;
    }

    /// <summary>The Skia description of this image's memory layout.</summary>
    internal SKImageInfo Info => new(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque);

    /// <summary>Runs <paramref name="use"/> with a Skia image that reads these pixels in place.</summary>
    internal T WithSkImage<T>(Func<SKImage, T> use)
    {
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(Pixels, System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(Info, handle.AddrOfPinnedObject(), Width * 4);
            using var image = SKImage.FromPixels(pixmap);
            return use(image);
        }
        finally
        {
            handle.Free();
        }
    }

    /// <summary>Copies the pixels of an RGBA bitmap, dropping alpha.</summary>
    internal static RgbImage FromBitmap(SKBitmap bitmap)
    {
        if (bitmap.ColorType != SKColorType.Rgba8888) throw new ArgumentException("expected an RGBA8888 bitmap", nameof(bitmap));
        var px = new byte[bitmap.Width * bitmap.Height * 4];
        System.Runtime.InteropServices.Marshal.Copy(bitmap.GetPixels(), px, 0, px.Length);
        for (int i = 3; i < px.Length; i += 4) px[i] = 255;
        return new RgbImage(bitmap.Width, bitmap.Height, px);
    }

    /// <summary>Encodes the image as PNG.</summary>
    public byte[] EncodePng() => WithSkImage(img =>
    {
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    });

    /// <summary>Writes the image as PNG, atomically.</summary>
    public void SavePng(string path) => AtomicFile.WriteAllBytes(path, EncodePng());
}
