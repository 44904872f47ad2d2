using Lumen.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Lumen.Training;

/// <summary>
/// A loss: per-item values (for top losses) and their mean (for training). Single-label losses take
/// class indices; multi-label losses take multi-hot float targets.
/// </summary>
public sealed class Loss
{
    private readonly Func<Tensor, Tensor, Tensor> _perItem;
    private readonly Func<Tensor, Tensor, Tensor>? _mean;

    private Loss(string name, Func<Tensor, Tensor, Tensor> perItem, Func<Tensor, Tensor, Tensor>? mean = null)
    {
        Name = name;
        _perItem = perItem;
        _mean = mean;
    }

    /// <summary>Describes the loss (for logs and the model file).</summary>
    public string Name { get; }

    /// <summary>Loss of each item, shape N.</summary>
    public Tensor PerItem(Tensor logits, Tensor targets) => _perItem(logits, targets);

    /// <summary>
    /// The batch's loss (what is minimised): the mean of <see cref="PerItem"/>, except for weighted
    /// cross-entropy, which divides by the sum of the targets' weights (as PyTorch and fastai).
    /// </summary>
    public Tensor Mean(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        return (_mean is null ? _perItem(logits, targets).mean() : _mean(logits, targets)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Cross-entropy, optionally with label smoothing (fastai's LabelSmoothingCrossEntropy, eps 0.1:
    /// (1−ε)·NLL + ε·mean over classes of −log p) and per-class weights. As fastai and PyTorch, the
    /// weights apply to the NLL term only, whose batch value is Σ w[yᵢ]·NLLᵢ / Σ w[yᵢ]; the smoothing
    /// term stays an unweighted mean. Per item (top losses) the NLL term is w[yᵢ]·NLLᵢ.
    /// </summary>
    public static Loss CrossEntropy(double labelSmoothing = 0, float[]? classWeights = null)
    {
        if (labelSmoothing < 0 || labelSmoothing >= 1) throw new OptionException(OptionName.LabelSmoothing, $"must be in [0, 1), got {labelSmoothing}");
        string name = "cross_entropy" + (labelSmoothing > 0 ? $"(label_smoothing={labelSmoothing})" : "") + (classWeights is null ? "" : "(class weights)");
        // (weighted NLL per item, weight per item, unweighted smoothing term per item)
        (Tensor Nll, Tensor? Weight, Tensor Smooth) Terms(Tensor logits, Tensor targets)
        {
            var logp = F.log_softmax(logits, 1);
            var nll = -logp.gather(1, targets.unsqueeze(1)).squeeze(1);
            Tensor? weight = classWeights is null ? null : tensor(classWeights, device: logits.device)[targets];
            return (weight is null ? nll : nll * weight, weight, -logp.mean(new long[] { 1 }));
        }
        Tensor PerItem(Tensor logits, Tensor targets)
        {
            using var scope = NewDisposeScope();
            var (nll, _, smooth) = Terms(logits, targets);
            return (labelSmoothing == 0 ? nll : Smoothed(nll, smooth)).MoveToOuterDisposeScope();
        }
        Tensor WeightedMean(Tensor logits, Tensor targets)
        {
            using var scope = NewDisposeScope();
            var (nll, weight, smooth) = Terms(logits, targets);
            var nllMean = nll.sum() / weight!.sum();
            return (labelSmoothing == 0 ? nllMean : Smoothed(nllMean, smooth.mean())).MoveToOuterDisposeScope();
        }
        // (1 − ε)·nll + ε·smooth
        Tensor Smoothed(Tensor nll, Tensor smooth)
        {
            using var keep = (1 - labelSmoothing).ToScalar();
            using var epsilon = labelSmoothing.ToScalar();
            return nll.mul(keep).add_(smooth.mul(epsilon), Scalars.One);
        }
        return new Loss(name, PerItem, classWeights is null ? null : WeightedMean);
    }

    /// <summary>
    /// Segmentation (logits N×C×H×W, targets N×H×W class indices): per image, the mean cross-entropy
    /// of its pixels plus <paramref name="diceWeight"/> × (1 − soft Dice), the soft Dice being
    /// (2·Σ p·t + 1) / (Σ p + Σ t + 1) of the softmax probabilities against the one-hot target (the 1
    /// makes a class absent from both score 1), averaged over the classes other than the background (index 0).
    /// </summary>
    public static Loss PixelCrossEntropy(double diceWeight = 0)
    {
        if (!(diceWeight >= 0)) throw new OptionException(OptionName.DiceWeight, $"must be 0 or more, got {diceWeight}");
        string name = "pixel_cross_entropy" + (diceWeight > 0 ? $"+{diceWeight:0.###}*dice" : "");
        return new Loss(name, (logits, targets) =>
        {
            using var scope = NewDisposeScope();
            Tensor ce = F.cross_entropy(logits, targets, reduction: nn.Reduction.None).flatten(1).mean(new long[] { 1 });
            if (diceWeight == 0) return ce.MoveToOuterDisposeScope();
            using var weight = diceWeight.ToScalar();
            return ce.add_(SoftDiceLoss(logits, targets), weight).MoveToOuterDisposeScope();
        });
    }

    /// <summary>1 − soft Dice per image (N), over the foreground classes.</summary>
    private static Tensor SoftDiceLoss(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        int classes = (int)logits.shape[1];
        Tensor p = logits.softmax(1).narrow(1, 1, classes - 1).flatten(2);
        Tensor t = F.one_hot(targets, classes).permute(0, 3, 1, 2).narrow(1, 1, classes - 1).flatten(2).to(p.dtype);
        using var two = 2.ToScalar();
        using var smooth = 1.ToScalar();
        Tensor dice = (p * t).sum(2).mul_(two).add_(smooth, Scalars.One) / p.sum(2).add_(t.sum(2), Scalars.One).add_(smooth, Scalars.One);
        return Scalars.OneMinus(dice.mean(new long[] { 1 })).MoveToOuterDisposeScope();
    }

    /// <summary>FCOS's detection loss (focal + GIoU + centre-ness, see <see cref="DetectionLoss"/>): per image divided by its positives, per batch by the batch's.</summary>
    public static Loss Detection() => new("fcos_focal_giou_centerness", DetectionLoss.PerImage, DetectionLoss.Batch);

    /// <summary>Binary cross-entropy with logits, averaged over labels per item (multi-label).</summary>
    public static Loss BinaryCrossEntropy() => new("bce_with_logits", (logits, targets) =>
    {
        using var scope = NewDisposeScope();
        return F.binary_cross_entropy_with_logits(logits, targets, reduction: nn.Reduction.None).mean(new long[] { 1 }).MoveToOuterDisposeScope();
    });
}
