using Lumen.Tensors;
using Lumen.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Tasks;

/// <summary>
/// A task with one class per answer (per image, or per pixel): a softmax over the classes (dimension 1),
/// and MixUp mixing the losses of the two targets.
/// </summary>
internal abstract class SoftmaxTask : ImageTask
{
    /// <summary>fastai's MixUp for class targets: λ·loss(y) + (1 − λ)·loss(y[perm]), per item, then the mean.</summary>
    public override Tensor MixUpLoss(Loss loss, Tensor logits, Tensor targets, Tensor partnerTargets, Tensor lambda) =>
        (loss.PerItem(logits, targets) * lambda).add_(loss.PerItem(logits, partnerTargets) * Scalars.OneMinus(lambda), Scalars.One).mean();

    public override Tensor Probabilities(Tensor logits) => logits.softmax(1);

    /// <summary>log p: softmax gives p back exactly (the probabilities sum to 1).</summary>
    public override Tensor Logits(Tensor probabilities)
    {
        using var tiny = 1e-12.ToScalar();
        return probabilities.clamp_min(tiny).log();
    }

    public override string OnnxActivation => "Softmax";
}
