using Lumen.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Imaging;

/// <summary>Conversions between <see cref="RgbImage"/> and NCHW float tensors in [0, 1].</summary>
public static class ImageTensor
{
    /// <summary>
    /// Stacks images of one size into an N×3×H×W float32 tensor in [0, 1] on <paramref name="device"/>.
    /// The bytes travel to the device as uint8 (a quarter of the float size) and are converted there.
    /// </summary>
    public static Tensor Stack(IReadOnlyList<RgbImage> images, Device device)
    {
        if (images.Count == 0) throw new ArgumentException("no images to stack", nameof(images));
        int w = images[0].Width, h = images[0].Height;
        var bytes = new byte[images.Count * w * h * 4];
        for (int i = 0; i < images.Count; i++)
        {
            if (images[i].Width != w || images[i].Height != h)
                throw new ArgumentException($"image {i} is {images[i].Width}x{images[i].Height}, expected {w}x{h}", nameof(images));
            Buffer.BlockCopy(images[i].Pixels, 0, bytes, i * w * h * 4, w * h * 4);
        }
        using var scope = NewDisposeScope();
        Tensor rgbx = torch.tensor(bytes, new long[] { images.Count, h, w, 4 }).to(device);
        using var maxByte = 255f.ToScalar();
        Tensor result = rgbx[.., .., .., ..3].permute(0, 3, 1, 2).to(ScalarType.Float32).div_(maxByte).contiguous();
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Converts a 3×H×W tensor in [0, 1] (values outside are clamped) back to an image.</summary>
    public static RgbImage ToImage(Tensor chw)
    {
        if (chw.dim() != 3 || chw.shape[0] != 3) throw new ArgumentException($"expected a 3xHxW tensor, got [{string.Join(",", chw.shape)}]", nameof(chw));
        using var scope = NewDisposeScope();
        int h = (int)chw.shape[1], w = (int)chw.shape[2];
        using var maxByte = 255.ToScalar();
        Tensor hwc = chw.detach().to(CPU).clamp(Scalars.Zero, Scalars.One).mul(maxByte).round().to(ScalarType.Byte).permute(1, 2, 0).contiguous();
        byte[] rgb = hwc.data<byte>().ToArray();
        var px = new byte[w * h * 4];
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            px[j] = rgb[i]; px[j + 1] = rgb[i + 1]; px[j + 2] = rgb[i + 2]; px[j + 3] = 255;
        }
        return new RgbImage(w, h, px);
    }
}
