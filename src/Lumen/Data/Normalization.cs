using Lumen.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Data;

/// <summary>
/// How pixel values are prepared for a model. The statistics belong to the pretrained weights, not to
/// the data: torchvision's ImageNet weights expect RGB in [0, 1] standardised with ImageNet mean/std,
/// while other weight sets expect, for example, BGR in 0..255 minus a mean. Images arrive as RGB in [0, 1].
/// </summary>
/// <param name="Mean">Per-channel mean, in the model's channel order and value scale.</param>
/// <param name="Std">Per-channel standard deviation, same convention.</param>
/// <param name="Scale">Multiplier applied to [0, 1] pixels first (1, or 255 for 0..255 weights).</param>
/// <param name="Bgr">True when the model expects channels in BGR order.</param>
public sealed record Normalization(float[] Mean, float[] Std, float Scale = 1f, bool Bgr = false)
{
    /// <summary>ImageNet statistics for RGB in [0, 1] (torchvision and fastai default).</summary>
    public static Normalization ImageNet { get; } = new(new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f });

    /// <summary>Maps an N×3×H×W RGB batch in [0, 1] to model input.</summary>
    public Tensor Normalize(Tensor rgb01)
    {
        using var scope = NewDisposeScope();
        Tensor x = Bgr ? rgb01.flip(1) : rgb01;
        if (Scale != 1f)
        {
            using var scale = Scale.ToScalar();
            x = x.mul(scale);
        }
        x = x.sub(Stat(Mean, x)).div_(Stat(Std, x));
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Inverse of <see cref="Normalize"/>: model input back to RGB in [0, 1] (for display).</summary>
    public Tensor Denormalize(Tensor input)
    {
        using var scope = NewDisposeScope();
        Tensor x = input.mul(Stat(Std, input)).add_(Stat(Mean, input), Scalars.One);
        if (Scale != 1f)
        {
            using var scale = Scale.ToScalar();
            x = x.div_(scale);
        }
        if (Bgr) x = x.flip(1);
        return x.MoveToOuterDisposeScope();
    }

    private static Tensor Stat(float[] values, Tensor like) =>
        tensor(values, new long[] { 1, values.Length, 1, 1 }, like.dtype, like.device);
}
