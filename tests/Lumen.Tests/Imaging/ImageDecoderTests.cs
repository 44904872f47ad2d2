using Lumen.Imaging;
using Lumen.Tests.Support;
using SkiaSharp;

namespace Lumen.Tests;

public class ImageDecoderTests
{
    private static readonly RgbImage Sample = TestImages.Pattern(20, 12, seed: 7);

    private static void AssertClose(RgbImage expected, RgbImage actual, int tolerance)
    {
        Assert.Equal(expected.Width, actual.Width);
        Assert.Equal(expected.Height, actual.Height);
        int worst = 0;
        for (int i = 0; i < expected.Pixels.Length; i++) worst = Math.Max(worst, Math.Abs(expected.Pixels[i] - actual.Pixels[i]));
        Assert.True(worst <= tolerance, $"max channel difference {worst} > {tolerance}");
    }

    [Fact]
    public void PngAndBmpDecodeExactly()
    {
        AssertClose(Sample, ImageDecoder.Decode(TestImages.Encode(Sample, SKEncodedImageFormat.Png), "x.png"), 0);
        AssertClose(Sample, ImageDecoder.Decode(TestImages.Bmp(Sample), "x.bmp"), 0);
    }

    [Fact]
    public void LossyFormatsDecodeClosely()
    {
        var smooth = RgbImage.Filled(16, 16, 200, 100, 50);
        AssertClose(smooth, ImageDecoder.Decode(TestImages.Encode(smooth, SKEncodedImageFormat.Jpeg), "x.jpg"), 4);
        AssertClose(smooth, ImageDecoder.Decode(TestImages.Encode(smooth, SKEncodedImageFormat.Webp, 100), "x.webp"), 4);
    }

    [Fact]
    public void GifDecodesFirstFrame()
    {
        byte[] gif = TestImages.Gif(6, 5, (255, 0, 0), (0, 0, 255));
        var img = ImageDecoder.Decode(gif, "x.gif");
        Assert.Equal((6, 5), (img.Width, img.Height));
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 6; x++)
                Assert.Equal(((byte)255, (byte)0, (byte)0), img[x, y]);
    }

    [Fact]
    public void GrayscaleBecomesRgbAndAlphaIsDropped()
    {
        var gray = new SKBitmap(new SKImageInfo(4, 3, SKColorType.Gray8, SKAlphaType.Opaque));
        for (int y = 0; y < 3; y++) for (int x = 0; x < 4; x++) gray.SetPixel(x, y, new SKColor((byte)(x * 60), (byte)(x * 60), (byte)(x * 60)));
        byte[] grayPng = gray.Encode(SKEncodedImageFormat.Png, 100).ToArray();
        var decoded = ImageDecoder.Decode(grayPng, "gray.png");
        Assert.Equal(((byte)120, (byte)120, (byte)120), decoded[2, 1]);

        var rgba = new SKBitmap(new SKImageInfo(2, 1, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        rgba.SetPixel(0, 0, new SKColor(10, 20, 30, 0));
        rgba.SetPixel(1, 0, new SKColor(200, 100, 50, 128));
        var withAlpha = ImageDecoder.Decode(rgba.Encode(SKEncodedImageFormat.Png, 100).ToArray(), "alpha.png");
        Assert.Equal(((byte)200, (byte)100, (byte)50), withAlpha[1, 0]);
        Assert.All(Enumerable.Range(0, 2), x => Assert.Equal(255, withAlpha.Pixels[x * 4 + 3]));
    }

    [Theory]
    [InlineData(1, 8, 4, 1, 0)]  // upright: marked pixel stays at (1,0)
    [InlineData(3, 8, 4, 6, 3)]  // rotated 180
    [InlineData(6, 4, 8, 3, 1)]  // stored rotated: displayed turned 90° clockwise, width and height swap
    [InlineData(8, 4, 8, 0, 6)]  // displayed turned 90° counter-clockwise
    [InlineData(2, 8, 4, 6, 0)]  // mirrored
    public void ExifOrientationIsApplied(ushort orientation, int width, int height, int markX, int markY)
    {
        // 8x4 stored image, black except a white 1x1 mark at stored (1, 0). JPEG blurs, so look for the brightest pixel.
        var stored = RgbImage.Filled(8, 4, 0, 0, 0);
        stored.Set(1, 0, 255, 255, 255);
        byte[] jpeg = TestImages.WithExifOrientation(TestImages.Encode(stored, SKEncodedImageFormat.Jpeg, 100), orientation);
        var img = ImageDecoder.Decode(jpeg, "exif.jpg");
        Assert.Equal((width, height), (img.Width, img.Height));
        var brightest = (from y in Enumerable.Range(0, img.Height) from x in Enumerable.Range(0, img.Width) select (x, y))
            .MaxBy(p => img[p.x, p.y].R);
        Assert.Equal((markX, markY), brightest);
    }

    [Fact]
    public void NonImageBytesGiveAClearError()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode("hello, not an image"u8.ToArray(), "notes.jpg"));
        Assert.Contains("notes.jpg", e.Message);
        Assert.Contains("not a supported image", e.Message);
        Assert.Equal(DecodeFailure.UnsupportedFormat, e.Failure);  // the server answers 415 for this kind only
    }

    [Fact]
    public void TruncatedJpegIsRejected()
    {
        byte[] jpeg = TestImages.Encode(TestImages.Pattern(64, 64, 3), SKEncodedImageFormat.Jpeg);
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(jpeg[..(jpeg.Length / 2)], "cut.jpg"));
        Assert.Contains("truncated", e.Message);
        Assert.Equal(DecodeFailure.Truncated, e.Failure);
    }

    [Fact]
    public void HugeDeclaredDimensionsAreRejectedBeforeDecoding()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(TestImages.PngHeaderOnly(50000, 50000), "bomb.png"));
        Assert.Contains("50000x50000", e.Message);
        Assert.Equal(DecodeFailure.TooLarge, e.Failure);
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode("/no/such/dir/x.png"));
        Assert.Contains("/no/such/dir/x.png", e.Message);
        Assert.Equal(DecodeFailure.Unreadable, e.Failure);
    }

    [Fact]
    public void LargeJpegMayDecodeSmallerButKeepsTheRequestedShortSide()
    {
        byte[] jpeg = TestImages.Encode(TestImages.Pattern(400, 300, 1), SKEncodedImageFormat.Jpeg);
        var img = ImageDecoder.Decode(jpeg, "big.jpg", minShortSide: 64);
        Assert.True(img.Height >= 64 && img.Height < 300, $"got {img.Width}x{img.Height}");
        Assert.Equal(4.0 / 3, (double)img.Width / img.Height, 1);
    }
}
