using Lumen.Augment;
using Lumen.Data;
using Lumen.Imaging;
using Lumen.Tests.Support;
using static TorchSharp.torch;

namespace Lumen.Tests;

public class TransformTests
{
    /// <summary>A 3-column-band image: red left third, green middle, blue right third.</summary>
    private static RgbImage Bands(int w, int h)
    {
        var img = RgbImage.Filled(w, h, 0, 0, 0);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                img.Set(x, y, (byte)(x < w / 3 ? 255 : 0), (byte)(x >= w / 3 && x < 2 * w / 3 ? 255 : 0), (byte)(x >= 2 * w / 3 ? 255 : 0));
        return img;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheOnePassInputArrayEqualsTheTorchBatch(bool bgrAnd255)
    {
        // ImageNet statistics on [0, 1], and ML.NET's ResNet-18 convention (BGR, 0..255 scale).
        var normalization = bgrAnd255 ? new Lumen.Data.Normalization(new[] { 103.9f, 116.8f, 123.7f }, new[] { 1f, 1f, 1f }, 255f, true) : Lumen.Data.Normalization.ImageNet;
        var preprocessing = new Lumen.Data.Preprocessing(16, Lumen.Data.ResizeMethod.Crop, PadMode.Reflection, normalization);
        var images = Enumerable.Range(0, 3).Select(i => TestImages.Pattern(16, 16, 40 + i)).ToList();
        using var batch = preprocessing.Batch(images, TorchSharp.torch.CPU);
        var (data, shape) = preprocessing.Input(images);
        Assert.Equal(batch.shape, shape);
        float[] expected = batch.data<float>().ToArray();
        float worst = expected.Zip(data, (a, b) => Math.Abs(a - b) / Math.Max(1f, Math.Abs(a))).Max();
        Assert.True(worst < 1e-5f, $"largest relative difference {worst}");
    }

    [Fact]
    public void CentreCropKeepsTheMiddleAndSquishKeepsEverything()
    {
        var wide = Bands(90, 30);
        var crop = new ItemTransform(12, ResizeMethod.Crop).Apply(wide, random: null);
        Assert.Equal((12, 12), (crop.Width, crop.Height));
        Assert.All(Enumerable.Range(0, 12), x => Assert.True(crop[x, 6].G > 200 && crop[x, 6].R < 60, $"x={x}: {crop[x, 6]}"));

        var squish = new ItemTransform(12, ResizeMethod.Squish).Apply(wide, random: null);
        Assert.True(squish[0, 6].R > 200 && squish[6, 6].G > 200 && squish[11, 6].B > 200);
    }

    [Fact]
    public void CropAtTheModelSizeReturnsTheSourcePixelsUnchanged()
    {
        // Scale 1 at whole-pixel offsets is a copy (no resampling): centre and random crops alike.
        var random = new Random(7);
        var noise = new RgbImage(40, 24, Enumerable.Range(0, 40 * 24 * 4).Select(i => i % 4 == 3 ? (byte)255 : (byte)random.Next(256)).ToArray());
        var t = new ItemTransform(24, ResizeMethod.Crop);
        foreach (var seed in new int?[] { null, 1, 2, 3 })
        {
            var rng = seed is { } s ? new Random(s) : null;
            int left = (int)t.SourceRect(40, 24, seed is { } s2 ? new Random(s2) : null).Left;
            var crop = t.Apply(noise, rng);
            Assert.Equal((24, 24), (crop.Width, crop.Height));
            for (int y = 0; y < 24; y++)
                for (int x = 0; x < 24; x++)
                    Assert.Equal(noise[left + x, y], crop[x, y]);
        }
    }

    [Fact]
    public void RandomCropPositionVariesWithTheSeedOnlyInTraining()
    {
        var wide = Bands(90, 30);
        var t = new ItemTransform(12, ResizeMethod.Crop);
        var crops = Enumerable.Range(0, 20).Select(s => t.SourceRect(90, 30, new Random(s)).Left).Distinct().Count();
        Assert.True(crops > 5, $"only {crops} distinct crop positions");
        Assert.Equal(t.SourceRect(90, 30, new Random(3)), t.SourceRect(90, 30, new Random(3)));
        Assert.Equal(30, t.SourceRect(90, 30, null).Left);
    }

    [Fact]
    public void PadReflectionMirrorsTheImageAndZerosPadsBlack()
    {
        var tall = RgbImage.Filled(10, 30, 255, 255, 255);
        var zeros = new ItemTransform(30, ResizeMethod.Pad, PadMode.Zeros).Apply(tall, null);
        Assert.True(zeros[1, 15].R < 10 && zeros[15, 15].R > 245);
        var mirror = new ItemTransform(30, ResizeMethod.Pad, PadMode.Reflection).Apply(tall, null);
        Assert.True(mirror[1, 15].R > 245);
    }

    [Fact]
    public void RandomResizedCropRespectsScaleAndRatio()
    {
        var t = new ItemTransform(32, ResizeMethod.Crop, minScale: 0.35);
        for (int s = 0; s < 50; s++)
        {
            var r = t.SourceRect(200, 100, new Random(s));
            double area = r.Width * r.Height / 20000.0, ratio = r.Width / r.Height;
            Assert.InRange(r.Left, 0, 200 - r.Width);
            Assert.InRange(r.Top, 0, 100 - r.Height);
            Assert.InRange(area, 0.33, 1.0);
            Assert.InRange(ratio, 0.74, 1.34);
        }
        Assert.Equal((32, 32), (t.Apply(Bands(200, 100), new Random(1)).Width, 32));
    }

    private static Tensor Marked(int size, int mx, int my)
    {
        var img = zeros(1, 3, size, size);
        img[0, .., my, mx] = tensor(1f);
        return img;
    }

    private static (long X, long Y) Brightest(Tensor batch)
    {
        long flat = batch[0, 0].argmax().item<long>();
        long w = batch.shape[3];
        return (flat % w, flat / w);
    }

    [Fact]
    public void FlipIsAnExactMirror()
    {
        using var scope = NewDisposeScope();
        var img = rand(2, 3, 7, 9);
        var flipped = BatchAugmenter.Resample(img, new[] { BatchAugmenter.Dihedral(1), BatchAugmenter.Dihedral(1) }, PadMode.Reflection);
        Assert.True(flipped.allclose(img.flip(3), atol: 1e-5));
        var vflip = BatchAugmenter.Resample(img, new[] { BatchAugmenter.Dihedral(2), BatchAugmenter.Dihedral(2) }, PadMode.Reflection);
        Assert.True(vflip.allclose(img.flip(2), atol: 1e-5));
    }

    [Fact]
    public void Rotate90MovesAMarkedPixelCounterClockwise()
    {
        using var scope = NewDisposeScope();
        // Mark near the top-right corner; a 90° counter-clockwise turn brings it near the top-left.
        var rotated = BatchAugmenter.Resample(Marked(9, 7, 1), new[] { BatchAugmenter.Rotation(90) }, PadMode.Zeros);
        Assert.Equal((1L, 1L), Brightest(rotated));
        Assert.Equal(1f, rotated[0, 0, 1, 1].item<float>(), 4);
        var back = BatchAugmenter.Resample(rotated, new[] { BatchAugmenter.Rotation(-90) }, PadMode.Zeros);
        Assert.Equal((7L, 1L), Brightest(back));
    }

    [Fact]
    public void ZoomTwiceAroundTheCentreEnlargesTheMiddle()
    {
        using var scope = NewDisposeScope();
        // Pixel (6,4) of a 9×9 image (offset +2,0 from the centre) moves to offset +4,0 under 2× zoom.
        var zoomed = BatchAugmenter.Resample(Marked(9, 6, 4), new[] { BatchAugmenter.Zoom(2, 0.5, 0.5) }, PadMode.Zeros);
        Assert.Equal((8L, 4L), Brightest(zoomed));
    }

    [Fact]
    public void WarpKeepsTheCentreAndMovesCorners()
    {
        double[] w = BatchAugmenter.Warp(0.2, 0);
        (double X, double Y) Map(double x, double y)
        {
            double z = w[6] * x + w[7] * y + w[8];
            return ((w[0] * x + w[1] * y + w[2]) / z, (w[3] * x + w[4] * y + w[5]) / z);
        }
        Assert.Equal(0, Map(0, 0).X, 9);
        Assert.Equal(-0.8, Map(-1, -1).X, 9);
        Assert.Equal(1.2, Map(1, 1).X, 9);
    }

    [Fact]
    public void AugmentationIsSeededAndStaysInRange()
    {
        using var scope = NewDisposeScope();
        var aug = new BatchAugmenter(AugmentOptions.Endoscopy);
        var img = rand(4, 3, 16, 16);
        var a = aug.Apply(img, new Random(5));
        var b = aug.Apply(img, new Random(5));
        var c = aug.Apply(img, new Random(6));
        Assert.True(a.eq(b).all().item<bool>());
        Assert.False(a.allclose(c));
        Assert.True(a.min().item<float>() >= 0 && a.max().item<float>() <= 1);
        Assert.True(new BatchAugmenter(AugmentOptions.None).Apply(img, new Random(1)).eq(img).all().item<bool>());
    }

    [Fact]
    public void BadAugmentOptionsNameTheOption()
    {
        Assert.Equal(OptionName.MaxRotate, Assert.Throws<OptionException>(() => new BatchAugmenter(new AugmentOptions { MaxRotate = 400 })).Option);
        Assert.Equal(OptionName.Augment, Assert.Throws<OptionException>(() => AugmentOptions.FromPreset("fancy")).Option);
    }

    [Fact]
    public void NormalizationRoundTripsAndSupportsBgr255()
    {
        using var scope = NewDisposeScope();
        var x = rand(2, 3, 4, 4);
        Assert.True(Normalization.ImageNet.Denormalize(Normalization.ImageNet.Normalize(x)).allclose(x, atol: 1e-5));
        var bgr = new Normalization(new[] { 100f, 110f, 120f }, new[] { 1f, 1f, 1f }, 255f, Bgr: true);
        var y = bgr.Normalize(x);
        Assert.Equal(x[0, 2, 0, 0].item<float>() * 255 - 100, y[0, 0, 0, 0].item<float>(), 3);
        Assert.True(bgr.Denormalize(y).allclose(x, atol: 1e-5));
        Assert.Equal(0.485f * 1, Normalization.ImageNet.Mean[0]);
    }
}
