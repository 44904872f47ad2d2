using static TorchSharp.torch;

namespace Lumen.Data.Masks;

/// <summary>Masks to and from tensors of class indices.</summary>
public static class MaskTensor
{
    /// <summary>Stacks same-sized masks into an N×H×W int64 tensor on <paramref name="device"/>.</summary>
    public static Tensor Stack(IReadOnlyList<ClassMask> masks, Device device)
    {
        if (masks.Count == 0) throw new ArgumentException("no masks", nameof(masks));
        int h = masks[0].Height, w = masks[0].Width, plane = h * w;
        var bytes = new byte[(long)masks.Count * plane];
        for (int i = 0; i < masks.Count; i++)
        {
            if (masks[i].Width != w || masks[i].Height != h)
                throw new ArgumentException($"mask {i} is {masks[i].Width}x{masks[i].Height}, expected {w}x{h}", nameof(masks));
            masks[i].Classes.CopyTo(bytes, (long)i * plane);
        }
        using var raw = tensor(bytes, new long[] { masks.Count, h, w }, ScalarType.Byte);
        return raw.to(ScalarType.Int64, device);
    }

    /// <summary>One H×W tensor of class indices (any integer type, any device) as a mask.</summary>
    public static ClassMask ToMask(Tensor classes)
    {
        if (classes.dim() != 2) throw new ArgumentException($"expected an H×W tensor, got {classes.dim()} dimensions", nameof(classes));
        using var bytes = classes.to(ScalarType.Byte, CPU).contiguous();
        return new ClassMask((int)classes.shape[1], (int)classes.shape[0], bytes.data<byte>().ToArray());
    }
}
