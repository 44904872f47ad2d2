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
    public Tensor Batch(IReadOnlyList<RgbImage> prepared, Device device, Func<Tensor, Tensor>? augment = null)
    {
        using var scope = NewDisposeScope();
        Tensor x = ImageTensor.Stack(prepared, device);
        if (augment is not null) x = augment(x);
        return Normalization.Normalize(x).MoveToOuterDisposeScope();
    }
}
