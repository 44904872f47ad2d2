using Lumen.Data.Masks;
using Lumen.Imaging;
using Lumen.Tensors;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Lumen.Inference;

/// <summary>A segmentation model's answer for one image, at the image's own size.</summary>
/// <param name="Path">The image file.</param>
/// <param name="Mask">The most probable class of every pixel of the image as decoded (EXIF orientation applied).</param>
/// <param name="Classes">The model's classes in index order (0 is the background).</param>
public sealed record MaskPrediction(string Path, ClassMask Mask, IReadOnlyList<string> Classes)
{
    /// <summary>Each class's share of the image's pixels, in class order.</summary>
    public IReadOnlyList<double> AreaFractions { get; } = Mask.PixelCounts(Classes.Count).Select(c => c / (double)(Mask.Width * Mask.Height)).ToArray();
}

public sealed partial class Predictor
{
    /// <summary>
    /// Segments one image file: the model sees the image as training did (see
    /// <see cref="Data.ItemTransform.WholeFrame"/>), its probabilities are resampled (bilinear) onto
    /// every pixel of the original image, then each pixel takes its most probable class. With
    /// <paramref name="tta"/> above 0, the probabilities are averaged with those of the mirrored image.
    /// </summary>
    /// <exception cref="LumenException">The model classifies whole images.</exception>
    /// <exception cref="ImageDecodeException">The file is not a readable image.</exception>
    public MaskPrediction PredictMask(string path, int tta = 0)
    {
        CheckPerPixel(tta);
        var (width, height) = ImageDecoder.ReadSize(path);
        return PredictMask(_transform.Load(path), width, height, path, tta);
    }

    /// <summary>
    /// As <see cref="PredictMask(string, int)"/> for an image in memory (an upload), which is decoded
    /// at its full size once; <paramref name="source"/> names it in errors and in the result.
    /// </summary>
    /// <returns>The prediction and the decoded image (to draw the mask on).</returns>
    public (MaskPrediction Prediction, RgbImage Image) PredictMask(byte[] bytes, string source, long maxPixels = ImageDecoder.DefaultMaxPixels, int tta = 0)
    {
        CheckPerPixel(tta);
        RgbImage image = ImageDecoder.Decode(bytes, source, 0, maxPixels);
        return (PredictMask(_transform.Shrink(image), image.Width, image.Height, source, tta), image);
    }

    private void CheckPerPixel(int tta)
    {
        if (!Info.Task.PerPixel) throw new LumenException("this model classifies whole images; masks come from a segmentation model");
        if (tta < 0) throw new OptionException(OptionName.Tta, $"must be 0 or more, got {tta}");
    }

    /// <summary>The mask of an image <paramref name="loaded"/> as the item transform loads it, whose original size is <paramref name="width"/>×<paramref name="height"/>.</summary>
    private MaskPrediction PredictMask(RgbImage loaded, int width, int height, string path, int tta)
    {
        var (input, region) = _transform.WholeFrame(loaded);
        using var scope = NewDisposeScope();
        Tensor x = Info.Preprocessing.Batch(new[] { input }, _device);
        Tensor probabilities = Forward(x);
        if (tta > 0)
        {
            using var half = 0.5.ToScalar();
            probabilities = probabilities.add(Forward(x.flip(3)).flip(3), Scalars.One).mul_(half);
        }
        Tensor frame = ToFrame(probabilities, region, loaded.Width, loaded.Height, width, height);
        return new MaskPrediction(path, MaskTensor.ToMask(frame.argmax(1)[0]), Classes);
    }

    /// <summary>
    /// Resamples probabilities (1×C×h×w) that show <paramref name="region"/> of a
    /// <paramref name="frameWidth"/>×<paramref name="frameHeight"/> image onto the whole image at
    /// <paramref name="width"/>×<paramref name="height"/>: output pixel centre x + ½ is frame point
    /// (x + ½)·frameWidth/width, which lies at 2·(that − left)/regionWidth − 1 in grid_sample's
    /// coordinates (corners not aligned: −1 and 1 are the outer edges of the border pixels).
    /// </summary>
    private static Tensor ToFrame(Tensor probabilities, SKRect region, int frameWidth, int frameHeight, int width, int height)
    {
        using var scope = NewDisposeScope();
        var device = probabilities.device;
        float[] gx = Enumerable.Range(0, width).Select(x => (float)(2 * ((x + 0.5) * frameWidth / width - region.Left) / region.Width - 1)).ToArray();
        float[] gy = Enumerable.Range(0, height).Select(y => (float)(2 * ((y + 0.5) * frameHeight / height - region.Top) / region.Height - 1)).ToArray();
        Tensor[] mesh = meshgrid(new[] { tensor(gy, device: device), tensor(gx, device: device) }, indexing: "ij");
        Tensor grid = stack(new[] { mesh[1], mesh[0] }, -1).unsqueeze(0);
        return F.grid_sample(probabilities.to(ScalarType.Float32), grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false)
            .MoveToOuterDisposeScope();
    }
}
