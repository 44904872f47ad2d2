using TorchSharp;

namespace Lumen.Tensors;

/// <summary>
/// TorchSharp Scalars that live for the whole process. A Scalar passed to LibTorch must outlive the
/// native call; TorchSharp does not keep it alive, so one made implicitly (or inside TorchSharp from
/// a number) can be freed by the finalizer thread mid-call. Lumen passes either these constants or
/// explicit Scalars held in <c>using</c> declarations; the LUMEN001/LUMEN002 analyzers enforce it.
/// </summary>
internal static class Scalars
{
    /// <summary>1: the alpha of a plain <c>add</c>/<c>add_</c>, and the counter step.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>0.</summary>
    public static readonly Scalar Zero = 0.ToScalar();

    /// <summary>1 − <paramref name="t"/> as a new tensor (bit-identical to <c>1 - t</c>, without its hidden Scalars).</summary>
    public static torch.Tensor OneMinus(torch.Tensor t) => t.neg().add_(One, One);
}
