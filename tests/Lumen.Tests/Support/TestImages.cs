using Lumen.Imaging;
using SkiaSharp;

namespace Lumen.Tests.Support;

/// <summary>Generates small test images in every supported format, including hand-built BMP, GIF and EXIF.</summary>
internal static class TestImages
{
    /// <summary>An image with a colour gradient plus a seeded pattern, so every generated image is distinct.</summary>
    public static RgbImage Pattern(int width, int height, int seed, (byte R, byte G, byte B)? tint = null)
    {
        var random = new Random(seed);
        var img = RgbImage.Filled(width, height, 0, 0, 0);
        var (tr, tg, tb) = tint ?? ((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                img.Set(x, y, (byte)((tr + x * 5 + random.Next(8)) % 256), (byte)((tg + y * 5) % 256), (byte)((tb + random.Next(16)) % 256));
        return img;
    }

    /// <summary>Encodes with Skia (JPEG, PNG or WebP).</summary>
    public static byte[] Encode(RgbImage image, SKEncodedImageFormat format, int quality = 95)
    {
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        System.Runtime.InteropServices.Marshal.Copy(image.Pixels, 0, bitmap.GetPixels(), image.Pixels.Length);
        using var data = bitmap.Encode(format, quality);
        return data.ToArray();
    }

    /// <summary>A 24-bit uncompressed BMP (bottom-up rows, BGR, rows padded to 4 bytes).</summary>
    public static byte[] Bmp(RgbImage image)
    {
        int rowBytes = (image.Width * 3 + 3) & ~3;
        int dataSize = rowBytes * image.Height;
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write((byte)'B'); w.Write((byte)'M'); w.Write(54 + dataSize); w.Write(0); w.Write(54);
        w.Write(40); w.Write(image.Width); w.Write(image.Height); w.Write((short)1); w.Write((short)24);
        w.Write(0); w.Write(dataSize); w.Write(2835); w.Write(2835); w.Write(0); w.Write(0);
        for (int y = image.Height - 1; y >= 0; y--)
        {
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image[x, y];
                w.Write(b); w.Write(g); w.Write(r);
            }
            for (int p = image.Width * 3; p < rowBytes; p++) w.Write((byte)0);
        }
        return ms.ToArray();
    }

    /// <summary>
    /// A GIF with one solid-colour frame per entry of <paramref name="frameColours"/> (a 4-colour global
    /// palette). LZW data is written with a clear code before the code width would grow, so every code
    /// is a literal of fixed width: valid GIF, no compressor needed.
    /// </summary>
    public static byte[] Gif(int width, int height, params (byte R, byte G, byte B)[] frameColours)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write("GIF89a"u8.ToArray());
        w.Write((short)width); w.Write((short)height);
        w.Write((byte)0xF1); // global colour table, 2 bits per colour => 4 entries
        w.Write((byte)0); w.Write((byte)0);
        for (int c = 0; c < 4; c++)
        {
            var (r, g, b) = c < frameColours.Length ? frameColours[c] : ((byte)0, (byte)0, (byte)0);
            w.Write(r); w.Write(g); w.Write(b);
        }
        for (int f = 0; f < frameColours.Length; f++)
        {
            w.Write(new byte[] { 0x21, 0xF9, 4, 0x04, 10, 0, 0, 0 }); // graphic control: 0.1 s, do not dispose
            w.Write((byte)0x2C); w.Write((short)0); w.Write((short)0); w.Write((short)width); w.Write((short)height); w.Write((byte)0);
            const int minCodeSize = 2; // codes: 0-3 colours, 4 clear, 5 end; width 3 bits
            w.Write((byte)minCodeSize);
            var codes = new List<int> { 4 };
            int sinceClear = 0;
            for (int p = 0; p < width * height; p++)
            {
                // Table entries are added from the second code after a clear; keep below 8 entries (3 bits).
                if (sinceClear == 2) { codes.Add(4); sinceClear = 0; }
                codes.Add(f);
                sinceClear++;
            }
            codes.Add(5);
            var bytes = new List<byte>();
            int acc = 0, bits = 0;
            foreach (int code in codes)
            {
                acc |= code << bits;
                bits += 3;
                while (bits >= 8) { bytes.Add((byte)(acc & 0xFF)); acc >>= 8; bits -= 8; }
            }
            if (bits > 0) bytes.Add((byte)acc);
            for (int i = 0; i < bytes.Count; i += 255)
            {
                int n = Math.Min(255, bytes.Count - i);
                w.Write((byte)n);
                w.Write(bytes.GetRange(i, n).ToArray());
            }
            w.Write((byte)0);
        }
        w.Write((byte)0x3B);
        return ms.ToArray();
    }

    /// <summary>Inserts an EXIF APP1 segment with the given orientation right after a JPEG's SOI marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        using var tiff = new MemoryStream();
        using (var w = new BinaryWriter(tiff, System.Text.Encoding.ASCII, leaveOpen: true))
        {
            w.Write("II"u8.ToArray()); w.Write((short)42); w.Write(8);      // little-endian TIFF header, IFD at 8
            w.Write((short)1);                                                // one entry
            w.Write((short)0x0112); w.Write((short)3); w.Write(1);           // Orientation, SHORT, count 1
            w.Write(orientation); w.Write((short)0);                          // value, padding
            w.Write(0);                                                       // no next IFD
        }
        byte[] payload = "Exif\0\0"u8.ToArray().Concat(tiff.ToArray()).ToArray();
        int length = payload.Length + 2;
        var segment = new byte[] { 0xFF, 0xE1, (byte)(length >> 8), (byte)(length & 0xFF) }.Concat(payload);
        return jpeg.Take(2).Concat(segment).Concat(jpeg.Skip(2)).ToArray();
    }

    /// <summary>
    /// A small PNG whose header declares the given size, followed by a little compressed zero data:
    /// the shape of a decompression bomb (a few hundred bytes that would inflate to gigabytes).
    /// </summary>
    public static byte[] PngHeaderOnly(int width, int height)
    {
        var png = new List<byte> { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        var ihdr = new List<byte>();
        void Be(List<byte> to, int v) { to.Add((byte)(v >> 24)); to.Add((byte)(v >> 16)); to.Add((byte)(v >> 8)); to.Add((byte)v); }
        Be(ihdr, width); Be(ihdr, height);
        ihdr.AddRange(new byte[] { 8, 2, 0, 0, 0 });
        using var zeros = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(zeros, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
            z.Write(new byte[100_000]);
        foreach (var (type, data) in new[] { ("IHDR", ihdr.ToArray()), ("IDAT", zeros.ToArray()), ("IEND", Array.Empty<byte>()) })
        {
            byte[] typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
            Be(png, data.Length);
            png.AddRange(typeBytes);
            png.AddRange(data);
            Be(png, (int)Crc32(typeBytes.Concat(data).ToArray()));
        }
        return png.ToArray();
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
