using Lumen.Data.Boxes;
using Lumen.Data.Masks;
using Lumen.Imaging;
using SkiaSharp;

namespace Lumen.Data;

/// <summary>How an image is brought to the square training size (fastai's <c>ResizeMethod</c>).</summary>
public enum ResizeMethod
{
    /// <summary>Crop the largest square (random position in training, centre in validation), then resize.</summary>
    Crop,

    /// <summary>Resize the whole image to the square, changing its aspect ratio.</summary>
    Squish,

    /// <summary>Pad the image to a square (see <see cref="PadMode"/>), then resize: nothing is cut off.</summary>
    Pad,
}

/// <summary>
/// The per-image transform: from a decoded image of any size to a <see cref="Size"/>×<see cref="Size"/>
/// image. Training draws a random crop position (or a RandomResizedCrop when <see cref="MinScale"/> is
/// set); validation and inference are deterministic (centre). One Skia draw does crop, pad and resize.
/// </summary>
public sealed class ItemTransform
{
    /// <summary>Creates the transform.</summary>
    /// <param name="size">Output side in pixels.</param>
    /// <param name="method">How to reach a square.</param>
    /// <param name="padMode">Fill for <see cref="ResizeMethod.Pad"/>.</param>
    /// <param name="minScale">When set, training uses RandomResizedCrop: a random area fraction in
    /// [minScale, 1] and aspect ratio in [3/4, 4/3], as fastai.</param>
    public ItemTransform(int size, ResizeMethod method = ResizeMethod.Crop, PadMode padMode = PadMode.Reflection, double? minScale = null)
    {
        if (size < 8) throw new OptionException(OptionName.Size, $"must be at least 8 pixels, got {size}");
        if (minScale is { } s && !(s > 0 && s <= 1)) throw new OptionException(OptionName.MinScale, $"must be in (0, 1], got {s}");
        Size = size;
        Method = method;
        PadMode = padMode;
        MinScale = minScale;
    }

    /// <summary>Output side in pixels.</summary>
    public int Size { get; }

    /// <summary>How the image reaches a square.</summary>
    public ResizeMethod Method { get; }

    /// <summary>Fill used when padding.</summary>
    public PadMode PadMode { get; }

    /// <summary>RandomResizedCrop minimum area fraction, or null for plain resizing.</summary>
    public double? MinScale { get; }

    /// <summary>
    /// True when training draws something at random: a RandomResizedCrop, or the crop position of
    /// <see cref="ResizeMethod.Crop"/> (random on any non-square image). False for squish and pad,
    /// whose training output equals the validation output.
    /// </summary>
    public bool IsRandomInTraining => MinScale is not null || Method == ResizeMethod.Crop;

    /// <summary>
    /// The shortest source side the transform can use at full quality; decoders and caches may shrink
    /// larger images to it first.
    /// </summary>
    public int SourceShortSide => Size;

    /// <summary>Transforms one image; <paramref name="random"/> is null for deterministic (validation) use.</summary>
    public RgbImage Apply(RgbImage image, Random? random)
    {
        SKRect source = SourceRect(image.Width, image.Height, random);
        return Draw(image, source, Size, Method == ResizeMethod.Pad ? PadMode : PadMode.Border);
    }

    /// <summary>
    /// Transforms an image and its mask with the same geometry (one random draw): the image as
    /// <see cref="Apply(RgbImage, Random?)"/>, the mask (given at any size of the same frame, e.g. the
    /// file's, before <see cref="Shrink"/>) by nearest neighbour with the same fill outside the frame.
    /// </summary>
    public (RgbImage Image, ClassMask Mask) Apply(RgbImage image, ClassMask mask, Random? random)
    {
        SKRect source = SourceRect(image.Width, image.Height, random);
        PadMode fill = Method == ResizeMethod.Pad ? PadMode : PadMode.Border;
        // The same region in the mask's pixels: one nearest-neighbour step from the file's mask.
        float sx = (float)mask.Width / image.Width, sy = (float)mask.Height / image.Height;
        var maskSource = SKRect.Create(source.Left * sx, source.Top * sy, source.Width * sx, source.Height * sy);
        return (Draw(image, source, Size, fill), mask.Sample(maskSource, Size, Size, fill));
    }

    /// <summary>
    /// Transforms an image and its boxes with the same geometry (one random draw): the image as
    /// <see cref="Apply(RgbImage, Random?)"/> except that pixels from outside the image are black (a
    /// reflected object would be an object without a box), the boxes (in any size of the same frame,
    /// e.g. the file's) mapped into the output square, clipped, and dropped when too little is left
    /// (<see cref="BoxList.MinVisibleShare"/>).
    /// </summary>
    public (RgbImage Image, BoxList Boxes) Apply(RgbImage image, BoxList boxes, Random? random)
    {
        SKRect source = SourceRect(image.Width, image.Height, random);
        PadMode fill = Method == ResizeMethod.Pad ? PadMode.Zeros : PadMode.Border;
        double fx = (double)image.Width / boxes.Width / source.Width * Size, fy = (double)image.Height / boxes.Height / source.Height * Size;
        double left = source.Left / ((double)image.Width / boxes.Width), top = source.Top / ((double)image.Height / boxes.Height);
        return (Draw(image, source, Size, fill), boxes.Map((x, y) => ((x - left) * fx, (y - top) * fy), Size, Size));
    }

    /// <summary>
    /// The deterministic input for a per-pixel model, and the region of <paramref name="image"/> it
    /// shows: the whole frame at the training scale for <see cref="ResizeMethod.Crop"/> (its short side
    /// <see cref="Size"/>, so nothing is cut off; a fully convolutional model takes any size), else the
    /// square <see cref="Apply(RgbImage, Random?)"/> makes (the padded square's region extends past the image).
    /// </summary>
    public (RgbImage Input, SKRect Region) WholeFrame(RgbImage image)
    {
        if (Method != ResizeMethod.Crop)
        {
            SKRect region = SourceRect(image.Width, image.Height, null);
            return (Draw(image, region, Size, Method == ResizeMethod.Pad ? PadMode : PadMode.Border), region);
        }
        var (w, h) = ShortSideAt(image, Size);
        var frame = SKRect.Create(0, 0, image.Width, image.Height);
        return (Draw(image, frame, w, h, PadMode.Border), frame);
    }

    /// <summary>
    /// Decodes a file the way every Lumen path does (training, evaluation, serving): the one decoder,
    /// allowed to shrink JPEGs to <see cref="SourceShortSide"/>, then <see cref="Shrink"/>.
    /// </summary>
    public RgbImage Load(string path) => Shrink(ImageDecoder.Decode(path, SourceShortSide));

    /// <summary>As <see cref="Load(string)"/>, for bytes in memory (uploads); <paramref name="source"/> names them in errors.</summary>
    public RgbImage Load(byte[] bytes, string source, long maxPixels = ImageDecoder.DefaultMaxPixels) =>
        Shrink(ImageDecoder.Decode(bytes, source, SourceShortSide, maxPixels));

    /// <summary>Shrinks <paramref name="image"/> so its shorter side is <see cref="SourceShortSide"/> (never enlarges).</summary>
    public RgbImage Shrink(RgbImage image)
    {
        if (Math.Min(image.Width, image.Height) <= SourceShortSide) return image;
        var (w, h) = ShortSideAt(image, SourceShortSide);
        return Draw(image, SKRect.Create(0, 0, image.Width, image.Height), w, h, PadMode.Border);
    }

    /// <summary>The size of <paramref name="image"/> scaled so its shorter side is <paramref name="side"/>.</summary>
    private static (int Width, int Height) ShortSideAt(RgbImage image, int side)
    {
        double f = (double)side / Math.Min(image.Width, image.Height);
        return (Math.Max(side, (int)Math.Round(image.Width * f)), Math.Max(side, (int)Math.Round(image.Height * f)));
    }

    /// <summary>The region of the source image that becomes the output square (may extend outside when padding).</summary>
    internal SKRect SourceRect(int w, int h, Random? random)
    {
        if (MinScale is { } minScale && random is not null) return RandomResizedCrop(w, h, minScale, random);
        // fastai: random crop/pad position in training, centre otherwise.
        double px = random?.NextDouble() ?? 0.5, py = random?.NextDouble() ?? 0.5;
        switch (Method)
        {
            case ResizeMethod.Squish:
                return SKRect.Create(0, 0, w, h);
            case ResizeMethod.Pad:
            {
                int side = Math.Max(w, h);
                return SKRect.Create((float)Math.Floor(px * (w - side)), (float)Math.Floor(py * (h - side)), side, side);
            }
            default:
            {
                int side = Math.Min(w, h);
                return SKRect.Create((int)(px * (w - side)), (int)(py * (h - side)), side, side);
            }
        }
    }

    /// <summary>fastai's RandomResizedCrop: up to 10 tries of a random area and ratio, else a centre crop.</summary>
    private static SKRect RandomResizedCrop(int w, int h, double minScale, Random random)
    {
        const double ratioLo = 3.0 / 4, ratioHi = 4.0 / 3;
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double area = (minScale + random.NextDouble() * (1 - minScale)) * w * h;
            double ratio = Math.Exp(Math.Log(ratioLo) + random.NextDouble() * (Math.Log(ratioHi) - Math.Log(ratioLo)));
            int nw = (int)Math.Round(Math.Sqrt(area * ratio)), nh = (int)Math.Round(Math.Sqrt(area / ratio));
            if (nw <= w && nh <= h && nw > 0 && nh > 0)
                return SKRect.Create(random.Next(w - nw + 1), random.Next(h - nh + 1), nw, nh);
        }
        int cw = w, ch = h;
        if ((double)w / h < ratioLo) ch = (int)(w / ratioLo);
        else if ((double)w / h > ratioHi) cw = (int)(h * ratioHi);
        return SKRect.Create((w - cw) / 2, (h - ch) / 2, cw, ch);
    }

    private static RgbImage Draw(RgbImage image, SKRect source, int size, PadMode fill) => Draw(image, source, size, size, fill);

    /// <summary>Maps <paramref name="source"/> onto a width×height output, filling outside pixels per <paramref name="fill"/>.</summary>
    private static RgbImage Draw(RgbImage image, SKRect source, int width, int height, PadMode fill)
    {
        if (IsPlainCrop(image, source, width, height)) return Crop(image, (int)source.Left, (int)source.Top, width, height);
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var bitmap = new SKBitmap(info);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Black);
            SKShaderTileMode tile = fill switch
            {
                PadMode.Reflection => SKShaderTileMode.Mirror,
                PadMode.Zeros => SKShaderTileMode.Decal,
                _ => SKShaderTileMode.Clamp,
            };
            float sx = width / source.Width, sy = height / source.Height;
            var matrix = SKMatrix.CreateScaleTranslation(sx, sy, -source.Left * sx, -source.Top * sy);
            // Linear filtering with mipmaps: smooth when shrinking large photos, like PIL's antialiased resize.
            var sampling = new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
            image.WithSkImage(img =>
            {
                using var shader = img.ToShader(tile, tile, sampling, matrix);
                using var paint = new SKPaint { Shader = shader };
                canvas.DrawRect(0, 0, width, height, paint);
                return 0;
            });
        }
        // Opaque output: premultiplied and straight RGBA bytes are identical.
        return RgbImage.FromBitmap(bitmap);
    }

    /// <summary>
    /// True when the draw maps pixels one to one: scale 1, whole-pixel offsets, all inside the image.
    /// Linear sampling then reads each pixel at its centre, so the output is the source's pixels; the
    /// common case (a square image, or a crop after <see cref="Shrink"/>) is a copy, not a draw.
    /// </summary>
    private static bool IsPlainCrop(RgbImage image, SKRect source, int width, int height) =>
        source.Width == width && source.Height == height
        && source.Left == MathF.Floor(source.Left) && source.Top == MathF.Floor(source.Top)
        && source.Left >= 0 && source.Top >= 0 && source.Right <= image.Width && source.Bottom <= image.Height;

    private static RgbImage Crop(RgbImage image, int left, int top, int width, int height)
    {
        var pixels = new byte[width * height * 4];
        for (int y = 0; y < height; y++)
            Array.Copy(image.Pixels, ((top + y) * image.Width + left) * 4, pixels, y * width * 4, width * 4);
        return new RgbImage(width, height, pixels);
    }
}
