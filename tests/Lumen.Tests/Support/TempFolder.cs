using Lumen.Imaging;
using SkiaSharp;

namespace Lumen.Tests.Support;

/// <summary>A temporary folder deleted at the end of the test, with helpers to fill it with images.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lumen-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(params string[] parts) => System.IO.Path.Combine(new[] { Path }.Concat(parts).ToArray());

    /// <summary>Writes bytes to a file below the folder, creating sub-folders.</summary>
    public string Write(string relative, byte[] bytes)
    {
        string full = File(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllBytes(full, bytes);
        return full;
    }

    /// <summary>
    /// Creates <paramref name="perClass"/> distinct PNG images per class under
    /// <c>prefix/class/</c>; class k is tinted differently so a model could tell them apart. Images
    /// are <paramref name="size"/> wide and <paramref name="height"/> (default: square) high.
    /// </summary>
    public void AddClasses(IReadOnlyList<string> classes, int perClass, int size = 24, string prefix = "", int seedBase = 0, int? height = null)
    {
        for (int c = 0; c < classes.Count; c++)
            for (int i = 0; i < perClass; i++)
            {
                var tint = ((byte)(c * 80), (byte)(255 - c * 80), (byte)(c * 40));
                var img = TestImages.Pattern(size, height ?? size, seedBase + c * 1000 + i, tint);
                Write(System.IO.Path.Combine(prefix, classes[c], $"img{i:D3}.png"), TestImages.Encode(img, SKEncodedImageFormat.Png));
            }
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
