using System.Diagnostics;
using Lumen.Imaging;
using Lumen.Tests.Support;

namespace Lumen.Tests;

/// <summary>Hostile image files: the decoder and every command that reads images (bench … fuzz runs 10,000+ cases).</summary>
public class FuzzTests
{
    /// <summary>Decodes one case with a time bound; returns null when fine, else what went wrong.</summary>
    internal static string? Check(ImageFuzzer.Case c, TimeSpan limit)
    {
        var decode = Task.Run(() =>
        {
            try
            {
                var image = ImageDecoder.Decode(c.Bytes, c.FileName);
                return image.Width > 0 && image.Height > 0 && image.Pixels.Length == image.Width * image.Height * 4 ? null : "decoded an empty or inconsistent image";
            }
            catch (ImageDecodeException e)
            {
                return string.IsNullOrWhiteSpace(e.Reason) || !e.Message.Contains(c.FileName) ? $"unclear message '{e.Message}'" : null;
            }
            catch (Exception e)
            {
                return $"{e.GetType().Name}: {e.Message}";
            }
        });
        if (!decode.Wait(limit)) return $"still decoding after {limit.TotalSeconds} s";
        return decode.Result;
    }

    [Fact]
    public void OnlyTheFiveSupportedFormatsReachTheCodecs()
    {
        // A valid 8×8 WBMP: Skia decodes it, but Lumen supports JPEG, PNG, BMP, WebP and GIF only, and
        // Skia's other sniffers (WBMP, ICO, raw camera formats) crashed the server on some uploads.
        byte[] wbmp = { 0, 0, 8, 8, 0xFF, 0, 0xFF, 0, 0xFF, 0, 0xFF, 0 };
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(wbmp, "tiny.wbmp"));
        Assert.Contains("not a supported image", e.Reason);
        Assert.Contains("truncated", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(new byte[] { 0x89, (byte)'P' }, "cut.png")).Reason);
        Assert.Contains("not a supported image", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode("%PDF-1.7"u8.ToArray(), "doc.pdf")).Reason);
        foreach (var (format, bytes) in new ImageFuzzer(seed: 1).Seeds) Assert.NotNull(ImageDecoder.Format(bytes));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void TheDecoderRejectsFuzzedFilesWithAClearMessageAndNeverHangs()
    {
        var fuzzer = new ImageFuzzer(seed: 2026);
        foreach (var (format, bytes) in fuzzer.Seeds) Assert.NotNull(ImageDecoder.Decode(bytes, format));
        var failures = new List<string>();
        int rejected = 0;
        var clock = Stopwatch.StartNew();
        foreach (var c in fuzzer.Cases(500))
        {
            if (Check(c, TimeSpan.FromSeconds(5)) is { } problem) failures.Add($"case {c.Number} ({c.Format}, {c.Mutations}): {problem}");
            try { ImageDecoder.Decode(c.Bytes, c.FileName); } catch (ImageDecodeException) { rejected++; }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // The mutations must bite: most cases are rejected, not silently decoded unchanged.
        Assert.True(rejected > 100, $"only {rejected} of 500 fuzzed files were rejected");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"500 cases took {clock.Elapsed.TotalSeconds:F0} s");
    }
}

/// <summary>The same hostile files through the commands a user runs.</summary>
[Collection(nameof(ConsoleCollection))]
public class FuzzedFilesThroughTheCliTests
{
    [Trait("Category", Category.Slow)]
    [Fact]
    public void DataAndPredictReportFuzzedFilesAndCarryOn()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 6, size: 32);
        var fuzzer = new ImageFuzzer(seed: 77);
        foreach (var c in fuzzer.Cases(80)) dir.Write(Path.Combine(c.Number % 2 == 0 ? "a" : "b", c.FileName), c.Bytes);
        string model = TinyModel.Save(dir.File("..", Path.GetFileName(dir.Path) + "-model.lumen"));
        try
        {
            var (code, error) = Run("data", dir.Path, "--size", "16");
            Assert.True(code == 0, error);
            (code, error) = Run("predict", model, dir.Path, "--out", dir.File("..", Path.GetFileName(dir.Path) + ".csv"));
            Assert.True(code == 0, error);
            Assert.DoesNotContain("unexpected error", error);
            Assert.Contains("lumen: skipped", error);
        }
        finally
        {
            File.Delete(model);
            File.Delete(dir.File("..", Path.GetFileName(dir.Path) + ".csv"));
        }
    }

    private static (int Code, string Error) Run(params string[] args) => InProcessCli.Run(args);
}
