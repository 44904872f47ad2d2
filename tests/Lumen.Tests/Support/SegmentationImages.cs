using Lumen.Data.Masks;
using Lumen.Imaging;
using SkiaSharp;

namespace Lumen.Tests.Support;

/// <summary>Generated segmentation data: dark, noisy images with a bright rectangle, and its mask.</summary>
public static class SegmentationImages
{
    /// <summary>An image with a bright rectangle at a seeded place and the mask of that rectangle (class 1).</summary>
    public static (RgbImage Image, ClassMask Mask) Rectangle(int width, int height, int seed)
    {
        var random = new Random(seed);
        int w = random.Next(width / 4, width / 2), h = random.Next(height / 4, height / 2);
        int left = random.Next(0, width - w), top = random.Next(0, height - h);
        var image = RgbImage.Filled(width, height, 0, 0, 0);
        var classes = new byte[width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                bool inside = x >= left && x < left + w && y >= top && y < top + h;
                byte noise = (byte)random.Next(0, 40);
                image.Set(x, y, (byte)(inside ? 215 + noise : noise), (byte)(inside ? 180 + noise : noise), (byte)(inside ? 60 : noise));
                classes[y * width + x] = inside ? (byte)1 : (byte)0;
            }
        return (image, new ClassMask(width, height, classes));
    }

    /// <summary>
    /// Writes <paramref name="count"/> such pairs as <c>images/img{i}.png</c> and binary
    /// <c>masks/img{i}.png</c> (0/255, or a JPEG mask when <paramref name="jpegMasks"/>) under <paramref name="root"/>
    /// (in its folder <paramref name="prefix"/>, which ends with a slash, when given).
    /// </summary>
    public static void Write(TempFolder root, int count, int width = 48, int height = 36, bool jpegMasks = false, string prefix = "")
    {
        for (int i = 0; i < count; i++)
        {
            var (image, mask) = Rectangle(width, height, 1000 + i);
            root.Write($"{prefix}images/img{i:D3}.png", TestImages.Encode(image, SKEncodedImageFormat.Png));
            var grey = RgbImage.Filled(width, height, 0, 0, 0);
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    if (mask[x, y] == 1) grey.Set(x, y, 255, 255, 255);
            root.Write(jpegMasks ? $"{prefix}masks/img{i:D3}.jpg" : $"{prefix}masks/img{i:D3}.png",
                TestImages.Encode(grey, jpegMasks ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png));
        }
    }
}
