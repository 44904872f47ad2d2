using Lumen.Imaging;
using Lumen.Models;
using static TorchSharp.torch;

namespace Lumen.Inference;

/// <summary>A box a detector found, in the original image's pixels.</summary>
/// <param name="Label">The class.</param>
/// <param name="Score">Confidence in [0, 1].</param>
/// <param name="XMin">Left edge.</param>
/// <param name="YMin">Top edge.</param>
/// <param name="XMax">Right edge.</param>
/// <param name="YMax">Bottom edge.</param>
public sealed record PredictedBox(string Label, float Score, float XMin, float YMin, float XMax, float YMax);

/// <summary>A detector's answer for one image.</summary>
/// <param name="Path">The image file (or the upload's name).</param>
/// <param name="Width">The image's width as decoded (EXIF orientation applied).</param>
/// <param name="Height">Its height.</param>
/// <param name="Boxes">The boxes, best first.</param>
public sealed record BoxPrediction(string Path, int Width, int Height, IReadOnlyList<PredictedBox> Boxes);

public sealed partial class Predictor
{
    /// <summary>
    /// How this detector's boxes are shown unless told otherwise: <see cref="BoxDecoding.Display"/> with the
    /// model's own score threshold (the best F1 on its validation images, recorded at export).
    /// </summary>
    public BoxDecoding BoxDecoding => BoxDecoding.Display with { ScoreThreshold = Info.Threshold };

    /// <summary>
    /// Finds the boxes in one image file: the model sees the image as training did (see
    /// <see cref="Data.ItemTransform.WholeFrame"/>), the boxes are decoded with <paramref name="decoding"/>
    /// (default <see cref="BoxDecoding"/>, the model's threshold) and mapped to the original image's pixels.
    /// </summary>
    /// <exception cref="LumenException">The model does not find boxes.</exception>
    /// <exception cref="ImageDecodeException">The file is not a readable image.</exception>
    public BoxPrediction PredictBoxes(string path, BoxDecoding? decoding = null)
    {
        CheckPerBox(decoding);
        var (width, height) = ImageDecoder.ReadSize(path);
        return PredictBoxes(_transform.Load(path), width, height, path, decoding ?? BoxDecoding);
    }

    /// <summary>
    /// As <see cref="PredictBoxes(string, BoxDecoding?)"/> for an image in memory (an upload), decoded at
    /// its full size once; <paramref name="source"/> names it in errors and in the result.
    /// </summary>
    /// <returns>The prediction and the decoded image (to draw the boxes on).</returns>
    public (BoxPrediction Prediction, RgbImage Image) PredictBoxes(byte[] bytes, string source, BoxDecoding? decoding = null, long maxPixels = ImageDecoder.DefaultMaxPixels)
    {
        CheckPerBox(decoding);
        RgbImage image = ImageDecoder.Decode(bytes, source, 0, maxPixels);
        return (PredictBoxes(_transform.Shrink(image), image.Width, image.Height, source, decoding ?? BoxDecoding), image);
    }

    private void CheckPerBox(BoxDecoding? decoding)
    {
        if (!Info.Task.PerBox) throw new LumenException($"this model is a {Info.Task.Name} model; boxes come from a detection model");
        decoding?.Validate();
    }

    /// <summary>The boxes of an image <paramref name="loaded"/> as the item transform loads it, whose original size is <paramref name="width"/>×<paramref name="height"/>.</summary>
    private BoxPrediction PredictBoxes(RgbImage loaded, int width, int height, string path, BoxDecoding decoding)
    {
        var (input, region) = _transform.WholeFrame(loaded);
        IReadOnlyList<DetectedBox> found;
        using (var scope = NewDisposeScope())
            found = decoding.Decode(Forward(Info.Preprocessing.Batch(new[] { input }, _device)), input.Width, input.Height, probabilities: true)[0];
        // Input pixels → the region of the loaded image they show → the original image's pixels.
        double sx = region.Width / input.Width * width / loaded.Width, sy = region.Height / input.Height * height / loaded.Height;
        double left = region.Left * (double)width / loaded.Width, top = region.Top * (double)height / loaded.Height;
        var boxes = found.Select(b => new PredictedBox(Classes[b.Class], b.Score,
            (float)Math.Clamp(left + b.XMin * sx, 0, width), (float)Math.Clamp(top + b.YMin * sy, 0, height),
            (float)Math.Clamp(left + b.XMax * sx, 0, width), (float)Math.Clamp(top + b.YMax * sy, 0, height))).ToList();
        return new BoxPrediction(path, width, height, boxes);
    }
}
