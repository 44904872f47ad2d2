using System.Globalization;
using Lumen.Data.Boxes;
using Lumen.Imaging;
using SkiaSharp;

namespace Lumen.Tests.Support;

/// <summary>Generated detection data: dark, noisy images with one or two bright rectangles, and their boxes.</summary>
public static class DetectionImages
{
    /// <summary>
    /// An image with <paramref name="objects"/> bright, non-overlapping rectangles at seeded places (class
    /// "a", or "b" for a second colour when <paramref name="twoClasses"/>), and their boxes (edges).
    /// </summary>
    public static (RgbImage Image, List<LabelledBox> Boxes) Draw(int width, int height, int seed, int objects = 1, bool twoClasses = false)
    {
        var random = new Random(seed);
        var image = RgbImage.Filled(width, height, 0, 0, 0);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                byte n = (byte)random.Next(0, 40);
                image.Set(x, y, n, n, n);
            }
        var boxes = new List<LabelledBox>();
        for (int k = 0; k < objects; k++)
        {
            // Each object in its own vertical band, so they never overlap.
            int band = width / objects, w = random.Next(band / 3, band * 2 / 3), h = random.Next(height / 4, height / 2);
            int left = k * band + random.Next(0, band - w), top = random.Next(0, height - h);
            bool second = twoClasses && random.Next(2) == 1;
            for (int y = top; y < top + h; y++)
                for (int x = left; x < left + w; x++)
                    image.Set(x, y, second ? (byte)60 : (byte)230, second ? (byte)120 : (byte)200, second ? (byte)240 : (byte)60);
            boxes.Add(new LabelledBox(second ? "b" : "a", left, top, left + w, top + h));
        }
        return (image, boxes);
    }

    /// <summary>
    /// Writes <paramref name="count"/> images as <c>{prefix}images/img{i}.png</c> and their boxes as a CSV
    /// (<c>{prefix}boxes.csv</c>, file names relative to the images folder); returns the CSV's path.
    /// </summary>
    public static string WriteCsv(TempFolder root, int count, int width = 64, int height = 48, string prefix = "", bool twoClasses = false)
    {
        var lines = new List<string> { "file,label,xmin,ymin,xmax,ymax" };
        for (int i = 0; i < count; i++)
        {
            var (image, boxes) = Draw(width, height, 2000 + i, objects: 1 + i % 2, twoClasses: twoClasses);
            root.Write($"{prefix}images/img{i:D3}.png", TestImages.Encode(image, SKEncodedImageFormat.Png));
            lines.AddRange(boxes.Select(b => string.Create(CultureInfo.InvariantCulture, $"img{i:D3}.png,{b.Label},{b.XMin},{b.YMin},{b.XMax},{b.YMax}")));
        }
        return root.Write($"{prefix}boxes.csv", System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));
    }
}
