using System.Text.Json.Serialization;
using Lumen.Imaging;
using static TorchSharp.torch;

namespace Lumen.Data;

/// <summary>
/// How decoded images become the model's input, in one place for training, validation, evaluation,
/// interpretation, the Predictor and the server (train/serve skew is a bug): the deterministic item
/// transform (resize/crop), then stacking on the device, optional batch augmentation (training and
/// TTA only) and the weights' normalisation. Saved in model files.
/// </summary>
/// <param name="Size">Square side in pixels.</param>
/// <param name="ResizeMethod">crop, squish or pad.</param>
/// <param name="PadMode">Fill for pad.</param>
/// <param name="Normalization">The weights' normalisation.</param>
public sealed record Preprocessing(int Size, ResizeMethod ResizeMethod, PadMode PadMode, Normalization Normalization)
{
    /// <summary>The deterministic (validation) item transform.</summary>
    [JsonIgnore]
    public ItemTransform ItemTransform => new(Size, ResizeMethod, PadMode);

    /// <summary>Decodes a file and applies the deterministic item transform.</summary>
    /// <exception cref="ImageDecodeException">The file is not a readable image.</exception>
    public RgbImage Prepare(string path) => ItemTransform.Apply(ItemTransform.Load(path), null);

    /// <summary>
    /// The model's input for prepared images: stacked on <paramref name="device"/> as RGB in [0, 1],
    /// passed through <paramref name="augment"/> when given, then normalised.
    /// </summary>
    public Tensor Batch(IReadOnlyList<RgbImage> prepared, Device device, Func<Tensor, Tensor>? augment = null) =>
        Batch(prepared, null, device, augment is null ? null : (x, _) => (augment(x), null)).Images;

    /// <summary>
    /// The model's input as the overload without masks makes it, with the images'
    /// masks (N×H×W class indices, or null), which <paramref name="augment"/> moves with them; the
    /// masks returned are the augmented ones (or <paramref name="masks"/> themselves without augmentation).
    /// </summary>
    public (Tensor Images, Tensor? Masks) Batch(IReadOnlyList<RgbImage> prepared, Tensor? masks, Device device,
        Func<Tensor, Tensor?, (Tensor Images, Tensor? Masks)>? augment)
    {
        using var scope = NewDisposeScope();
        Tensor x = ImageTensor.Stack(prepared, device);
        Tensor? y = masks;
        if (augment is not null) (x, y) = augment(x, masks);
        Tensor normalized = Normalization.Normalize(x).MoveToOuterDisposeScope();
        return (normalized, ReferenceEquals(y, masks) ? masks : y?.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The same values as the Batch overload without masks without augmentation, as one N×3×H×W float array built in a
    /// single pass over the pixels, for engines that read managed memory (ONNX Runtime): the torch route
    /// makes about eight passes (stack, slice, permute, convert, scale, flip, subtract, divide, copy out),
    /// about a tenth of a resnet18 pass at 224 px on two cores.
    /// </summary>
    public (float[] Data, long[] Shape) Input(IReadOnlyList<RgbImage> prepared)
    {
        if (prepared.Count == 0) throw new ArgumentException("no images", nameof(prepared));
        int n = prepared.Count, h = prepared[0].Height, w = prepared[0].Width, plane = h * w;
        var norm = Normalization;
        // value = ((pixel / 255) · scale − mean) / std = pixel · gain + offset, per output channel.
        var gain = new float[3];
        var offset = new float[3];
        var source = new int[3];
        for (int c = 0; c < 3; c++)
        {
            gain[c] = norm.Scale / 255f / norm.Std[c];
            offset[c] = -norm.Mean[c] / norm.Std[c];
            source[c] = norm.Bgr ? 2 - c : c;
        }
        var data = new float[(long)n * 3 * plane];
        Parallel.For(0, n, i =>
        {
            var image = prepared[i];
            if (image.Width != w || image.Height != h)
                throw new ArgumentException($"image {i} is {image.Width}x{image.Height}, expected {w}x{h}", nameof(prepared));
            byte[] pixels = image.Pixels;
            for (int c = 0; c < 3; c++)
            {
                var output = data.AsSpan(((i * 3) + c) * plane, plane);
                int s = source[c];
                float g = gain[c], o = offset[c];
                for (int p = 0; p < plane; p++) output[p] = pixels[p * 4 + s] * g + o;
            }
        });
        return (data, new long[] { n, 3, h, w });
    }
}
