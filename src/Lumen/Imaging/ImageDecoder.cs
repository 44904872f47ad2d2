using SkiaSharp;

namespace Lumen.Imaging;

/// <summary>
/// The one image decoder of Lumen, used by training, evaluation and serving alike so that every path
/// sees the same pixels. Reads JPEG, PNG, BMP, WebP and GIF (first frame), applies the EXIF
/// orientation, converts grayscale and alpha images to opaque RGB (alpha is dropped, as PIL's
/// <c>convert("RGB")</c> does), and checks the declared dimensions before decoding any pixel so a
/// tiny file declaring a huge image cannot exhaust memory.
/// </summary>
public static class ImageDecoder
{
    /// <summary>File extensions treated as images when scanning folders (lower case, with dot).</summary>
    public static readonly IReadOnlySet<string> Extensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif" };

    private const string UnsupportedFormat = "not a supported image (expected JPEG, PNG, BMP, WebP or GIF)";

    /// <summary>Default limit on width × height (about 100 megapixels).</summary>
    public const long DefaultMaxPixels = 100_000_000;

    /// <summary>True when <paramref name="path"/> has an image extension.</summary>
    public static bool IsImageFile(string path) => Extensions.Contains(Path.GetExtension(path));

    /// <summary>Decodes a file. See <see cref="Decode(byte[], string, int, long)"/>.</summary>
    public static RgbImage Decode(string path, int minShortSide = 0, long maxPixels = DefaultMaxPixels) => Decode(ReadBytes(path), path, minShortSide, maxPixels);

    /// <summary>An image file's bytes, a read failure reported as an <see cref="ImageDecodeException"/> naming the file.</summary>
    public static byte[] ReadBytes(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, DecodeFailure.Unreadable, e.Message);
        }
    }

    /// <summary>Decodes an image from a stream (read to its end first). See <see cref="Decode(byte[], string, int, long)"/>.</summary>
    public static RgbImage Decode(Stream stream, string source, int minShortSide = 0, long maxPixels = DefaultMaxPixels)
    {
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return Decode(memory.ToArray(), source, minShortSide, maxPixels);
    }

    /// <summary>
    /// Decodes an image. When <paramref name="minShortSide"/> is positive and the format supports it
    /// (JPEG), the decoder may shrink by a power of two while the shorter side stays at least that
    /// long: much faster for large photos, and the resize that follows sees enough pixels.
    /// </summary>
    /// <exception cref="ImageDecodeException">The bytes are not a supported image, are corrupt or
    /// truncated, or declare more than <paramref name="maxPixels"/> pixels.</exception>
    public static RgbImage Decode(byte[] bytes, string source, int minShortSide = 0, long maxPixels = DefaultMaxPixels)
    {
        // Only the five supported formats reach Skia: its other sniffers (raw camera formats, ICO, WBMP…)
        // crashed the server on some non-image uploads (found by bench … serve-soak).
        if (Format(bytes) is not { } format)
            throw IsPrefixOfASignature(bytes) ? new ImageDecodeException(source, DecodeFailure.Truncated, "the file is truncated or empty")
                : new ImageDecodeException(source, DecodeFailure.UnsupportedFormat, UnsupportedFormat);
        // The codec reads the upload where it lies: pinned, with no native copy (a copy per request
        // is native heap churn that glibc keeps). Not SKManagedStream: its read callback throws on the
        // huge reads a corrupt length field asks for, and an exception thrown inside a native callback
        // cannot be caught: it ends the process (found by bench … fuzz).
        var pinnedBytes = System.Runtime.InteropServices.GCHandle.Alloc(bytes, System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            using var data = SKData.Create(pinnedBytes.AddrOfPinnedObject(), bytes.Length);
            return DecodeData(data, source, minShortSide, maxPixels);
        }
        finally
        {
            pinnedBytes.Free();
        }
    }

    /// <summary>Decodes <paramref name="data"/>, whose codec, stream and buffers are all released before returning.</summary>
    private static RgbImage DecodeData(SKData data, string source, int minShortSide, long maxPixels)
    {
        using var native = new SKMemoryStream(data);
        using var codec = SKCodec.Create(native, out SKCodecResult createResult);
        if (codec is null)
            throw createResult == SKCodecResult.IncompleteInput ? new ImageDecodeException(source, DecodeFailure.Truncated, "the file is truncated or empty")
                : new ImageDecodeException(source, DecodeFailure.UnsupportedFormat, UnsupportedFormat);

        SKImageInfo declared = codec.Info;
        if (declared.Width <= 0 || declared.Height <= 0)
            throw new ImageDecodeException(source, DecodeFailure.Corrupt, "the image declares no pixels");
        if ((long)declared.Width * declared.Height > maxPixels)
            throw new ImageDecodeException(source, DecodeFailure.TooLarge, $"the image declares {declared.Width}x{declared.Height} pixels, more than the limit of {maxPixels:N0}");

        SKSizeI size = declared.Size;
        if (minShortSide > 0 && codec.EncodedFormat == SKEncodedImageFormat.Jpeg)
        {
            float scale = (float)minShortSide / Math.Min(size.Width, size.Height);
            if (scale < 1f)
            {
                SKSizeI scaled = codec.GetScaledDimensions(scale);
                if (Math.Min(scaled.Width, scaled.Height) >= minShortSide) size = scaled;
            }
        }

        // Decoded straight into the image's own array: no bitmap, no copy.
        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[info.BytesSize];
        var pinned = System.Runtime.InteropServices.GCHandle.Alloc(pixels, System.Runtime.InteropServices.GCHandleType.Pinned);
        SKCodecResult result;
        try
        {
            result = codec.GetPixels(info, pinned.AddrOfPinnedObject());
        }
        finally
        {
            pinned.Free();
        }
        if (result != SKCodecResult.Success)
            throw result == SKCodecResult.IncompleteInput
                ? new ImageDecodeException(source, DecodeFailure.Truncated, "the file is truncated (the pixel data ends early)")
                : new ImageDecodeException(source, DecodeFailure.Corrupt, $"the pixel data is corrupt ({result})");
        if (codec.Info.AlphaType != SKAlphaType.Opaque)
            for (int i = 3; i < pixels.Length; i += 4) pixels[i] = 255;

        RgbImage image = new(size.Width, size.Height, pixels);
        return ApplyOrientation(image, codec.EncodedOrigin);
    }

    private static readonly (string Name, byte[] Magic)[] Signatures =
    {
        ("jpeg", new byte[] { 0xFF, 0xD8, 0xFF }),
        ("png", new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }),
        ("gif", "GIF87a"u8.ToArray()),
        ("gif", "GIF89a"u8.ToArray()),
        ("bmp", "BM"u8.ToArray()),
        ("webp", "RIFF"u8.ToArray()),
    };

    /// <summary>The supported format the bytes start like (WebP: "RIFF", 4 bytes, "WEBP"), or null.</summary>
    internal static string? Format(ReadOnlySpan<byte> bytes)
    {
        foreach (var (name, magic) in Signatures)
            if (bytes.StartsWith(magic) && (name != "webp" || (bytes.Length >= 12 && bytes[8..12].SequenceEqual("WEBP"u8))))
                return name;
        return null;
    }

    private static bool IsPrefixOfASignature(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 12) return false;
        foreach (var (_, magic) in Signatures)
            if (magic.AsSpan().StartsWith(bytes.Length <= magic.Length ? bytes : bytes[..magic.Length])) return true;
        return false;
    }

    /// <summary>Reads just the header: the displayed width and height, after EXIF orientation.</summary>
    public static (int Width, int Height) ReadSize(string path)
    {
        var head = new byte[12];
        int read;
        try
        {
            using var file = File.OpenRead(path);
            read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, DecodeFailure.Unreadable, e.Message);
        }
        if (Format(head.AsSpan(0, read)) is null) throw new ImageDecodeException(path, DecodeFailure.UnsupportedFormat, UnsupportedFormat);
        using var codec = SKCodec.Create(path, out SKCodecResult result)
            ?? throw new ImageDecodeException(path, DecodeFailure.UnsupportedFormat, $"not a supported image ({result})");
        var (w, h) = (codec.Info.Width, codec.Info.Height);
        return SwapsAxes(codec.EncodedOrigin) ? (h, w) : (w, h);
    }

    private static bool SwapsAxes(SKEncodedOrigin origin) => origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
        or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>
    /// Turns the stored pixels into the displayed image. For each displayed pixel (x, y) the source
    /// pixel follows from the EXIF definition of which stored row/column is the visual top/left.
    /// </summary>
    private static RgbImage ApplyOrientation(RgbImage src, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft) return src;
        int sw = src.Width, sh = src.Height;
        bool swap = SwapsAxes(origin);
        int dw = swap ? sh : sw, dh = swap ? sw : sh;
        var dst = new byte[dw * dh * 4];
        byte[] s = src.Pixels;
        for (int y = 0; y < dh; y++)
        {
            for (int x = 0; x < dw; x++)
            {
                (int sx, int sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (sw - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (sw - 1 - x, sh - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, sh - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, sh - 1 - x),
                    SKEncodedOrigin.RightBottom => (sw - 1 - y, sh - 1 - x),
                    SKEncodedOrigin.LeftBottom => (sw - 1 - y, x),
                    _ => (x, y),
                };
                Buffer.BlockCopy(s, (sy * sw + sx) * 4, dst, (y * dw + x) * 4, 4);
            }
        }
        return new RgbImage(dw, dh, dst);
    }
}
