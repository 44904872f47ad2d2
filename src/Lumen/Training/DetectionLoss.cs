using Lumen.Models;
using Lumen.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Lumen.Training;

/// <summary>
/// FCOS's loss as torchvision computes it, on the detector's output rows (N×L×(C+8), see
/// <see cref="FcosDetector"/>) and padded targets (N×M×5: class index or −1 for padding, then the box's
/// corners in input pixels):
/// <list type="bullet">
/// <item>assignment: a location is a positive of a box when it lies inside the box and within 1.5
/// strides of its centre (centre sampling), and the box's largest distance from it suits the location's
/// level (stride·4 to stride·8; the finest level from 0, the coarsest without limit); among several
/// boxes, the smallest;</item>
/// <item>sigmoid focal loss (α 0.25, γ 2) over every location and class; GIoU loss of the positives'
/// boxes; binary cross-entropy of their centre-ness logits against √(min(l,r)/max(l,r)·min(t,b)/max(t,b));</item>
/// <item>each summed and divided by the number of positives (at least 1): over the batch for training,
/// per image for <see cref="PerImage"/>.</item>
/// </list>
/// </summary>
internal static class DetectionLoss
{
    public const double FocalAlpha = 0.25;
    public const double FocalGamma = 2;
    public const double CentreRadius = 1.5;

    /// <summary>The three losses summed per image (N), each divided by the image's positives.</summary>
    public static Tensor PerImage(Tensor outputs, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var (focal, giou, centre, positives) = Sums(outputs, targets);
        Tensor count = positives.clamp_min(Scalars.One);
        return focal.add_(giou, Scalars.One).add_(centre, Scalars.One).div_(count).MoveToOuterDisposeScope();
    }

    /// <summary>The batch's loss: each sum over the batch divided by the batch's positives.</summary>
    public static Tensor Batch(Tensor outputs, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var (focal, giou, centre, positives) = Sums(outputs, targets);
        Tensor count = positives.sum().clamp_min(Scalars.One);
        return focal.sum().add_(giou.sum(), Scalars.One).add_(centre.sum(), Scalars.One).div_(count).MoveToOuterDisposeScope();
    }

    /// <summary>Per image: the focal, GIoU and centre-ness sums and the number of positives (all N, float).</summary>
    private static (Tensor Focal, Tensor Giou, Tensor Centre, Tensor Positives) Sums(Tensor outputs, Tensor targets)
    {
        using var scope = NewDisposeScope();
        int classes = (int)outputs.shape[2] - FcosDetector.ExtraColumns;
        var (positive, matchedClass, matchedBox) = Assign(outputs.detach(), targets);
        Tensor logits = outputs.narrow(2, 0, classes);
        Tensor oneHot = zeros_like(logits);
        if (classes > 0)
        {
            Tensor hot = F.one_hot(matchedClass.clamp_min(Scalars.Zero), classes).to(logits.dtype).mul_(positive.unsqueeze(2).to(logits.dtype));
            oneHot = hot;
        }
        Tensor focal = FocalLoss(logits, oneHot).sum(new long[] { 1, 2 });

        Tensor distances = outputs.narrow(2, classes, 4);
        Tensor location = outputs.narrow(2, classes + 5, 2).detach();
        Tensor stride = outputs.narrow(2, classes + 7, 1).detach();
        Tensor predicted = cat(new[] { location - distances.narrow(2, 0, 2) * stride, (distances.narrow(2, 2, 2) * stride).add_(location, Scalars.One) }, 2);
        Tensor mask = positive.to(outputs.dtype);
        Tensor giou = GiouLoss(predicted, matchedBox).mul_(mask).sum(1);

        Tensor l = location.narrow(2, 0, 1) - matchedBox.narrow(2, 0, 1), t = location.narrow(2, 1, 1) - matchedBox.narrow(2, 1, 1);
        Tensor r = matchedBox.narrow(2, 2, 1) - location.narrow(2, 0, 1), b = matchedBox.narrow(2, 3, 1) - location.narrow(2, 1, 1);
        Tensor lr = cat(new[] { l, r }, 2).clamp_min(Scalars.Zero), tb = cat(new[] { t, b }, 2).clamp_min(Scalars.Zero);
        using var tiny = 1e-6.ToScalar();
        Tensor centreTarget = (lr.min(2).values / lr.max(2).values.clamp_min(tiny) * (tb.min(2).values / tb.max(2).values.clamp_min(tiny))).sqrt_();
        Tensor centreLogit = outputs.select(2, classes + 4);
        Tensor centre = F.binary_cross_entropy_with_logits(centreLogit, centreTarget.mul(mask), reduction: nn.Reduction.None).mul_(mask).sum(1);
        return (focal.MoveToOuterDisposeScope(), giou.MoveToOuterDisposeScope(), centre.MoveToOuterDisposeScope(), mask.sum(1).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Which box each location learns: positive (N×L bool), the box's class (N×L, −1 where negative) and
    /// corners (N×L×4, zeros where negative).
    /// </summary>
    internal static (Tensor Positive, Tensor Class, Tensor Box) Assign(Tensor outputs, Tensor targets)
    {
        using var scope = NewDisposeScope();
        int classes = (int)outputs.shape[2] - FcosDetector.ExtraColumns;
        long n = outputs.shape[0], rows = outputs.shape[1], m = targets.shape[1];
        using var none = (-1L).ToScalar();
        using var infinity = float.PositiveInfinity.ToScalar();
        if (m == 0)
            return (zeros(n, rows, dtype: ScalarType.Bool, device: outputs.device).MoveToOuterDisposeScope(),
                full(new[] { n, rows }, none, dtype: ScalarType.Int64, device: outputs.device).MoveToOuterDisposeScope(),
                zeros(n, rows, 4, dtype: outputs.dtype, device: outputs.device).MoveToOuterDisposeScope());
        Tensor x = outputs.select(2, classes + 5).unsqueeze(2), y = outputs.select(2, classes + 6).unsqueeze(2); // N×L×1
        Tensor stride = outputs.select(2, classes + 7).unsqueeze(2);
        Tensor label = targets.select(2, 0).unsqueeze(1); // N×1×M
        Tensor x0 = targets.select(2, 1).unsqueeze(1), y0 = targets.select(2, 2).unsqueeze(1);
        Tensor x1 = targets.select(2, 3).unsqueeze(1), y1 = targets.select(2, 4).unsqueeze(1);
        Tensor l = x - x0, t = y - y0, r = x1 - x, b = y1 - y; // N×L×M
        Tensor inside = stack(new[] { l, t, r, b }, 3).min(3).values.gt(Scalars.Zero);
        using var half = 0.5.ToScalar();
        using var radius = CentreRadius.ToScalar();
        Tensor cx = x0.add(x1, Scalars.One).mul_(half), cy = y0.add(y1, Scalars.One).mul_(half);
        Tensor reach = stride.mul(radius);
        Tensor nearCentre = (x - cx).abs_().lt(reach).logical_and_((y - cy).abs_().lt(reach));
        Tensor largest = stack(new[] { l, t, r, b }, 3).max(3).values;
        // Level ranges (torchvision's FCOS): stride·4 to stride·8, the finest level from 0 and the coarsest unbounded.
        using var finest = outputs.select(2, classes + 7).min().item<float>().ToScalar();
        using var coarsest = outputs.select(2, classes + 7).max().item<float>().ToScalar();
        using var four = 4.ToScalar();
        using var eight = 8.ToScalar();
        Tensor lower = stride.mul(four).masked_fill_(stride.eq(finest), Scalars.Zero);
        Tensor upper = stride.mul(eight).masked_fill_(stride.eq(coarsest), infinity);
        Tensor fits = largest.gt(lower).logical_and_(largest.le(upper));
        Tensor valid = label.ge(Scalars.Zero);
        Tensor match = inside.logical_and_(nearCentre).logical_and_(fits).logical_and_(valid);
        Tensor area = (x1 - x0).mul(y1 - y0).expand(n, rows, m).masked_fill(match.logical_not(), infinity);
        Tensor chosen = area.argmin(2); // N×L
        Tensor positive = match.any(2);
        Tensor boxes = targets.narrow(2, 1, 4).gather(1, chosen.unsqueeze(2).expand(n, rows, 4)).mul_(positive.unsqueeze(2).to(targets.dtype));
        Tensor cls = targets.select(2, 0).gather(1, chosen).to(ScalarType.Int64).masked_fill_(positive.logical_not(), none);
        return (positive.MoveToOuterDisposeScope(), cls.MoveToOuterDisposeScope(), boxes.MoveToOuterDisposeScope());
    }

    /// <summary>Sigmoid focal loss per element (Lin et al.; torchvision.ops.sigmoid_focal_loss).</summary>
    internal static Tensor FocalLoss(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        Tensor p = logits.sigmoid();
        Tensor ce = F.binary_cross_entropy_with_logits(logits, targets, reduction: nn.Reduction.None);
        Tensor pt = (p * targets).add_(Scalars.OneMinus(p) * Scalars.OneMinus(targets), Scalars.One);
        using var gamma = FocalGamma.ToScalar();
        using var alpha = FocalAlpha.ToScalar();
        using var oneMinusAlpha = (1 - FocalAlpha).ToScalar();
        Tensor weight = (targets * alpha).add_(Scalars.OneMinus(targets) * oneMinusAlpha, Scalars.One);
        return (ce * Scalars.OneMinus(pt).pow(gamma) * weight).MoveToOuterDisposeScope();
    }

    /// <summary>1 − generalised IoU of corresponding boxes (…×4 corners), as torchvision.ops.generalized_box_iou_loss.</summary>
    internal static Tensor GiouLoss(Tensor predicted, Tensor target)
    {
        using var scope = NewDisposeScope();
        using var eps = 1e-7.ToScalar();
        Tensor px0 = predicted.select(-1, 0), py0 = predicted.select(-1, 1), px1 = predicted.select(-1, 2), py1 = predicted.select(-1, 3);
        Tensor tx0 = target.select(-1, 0), ty0 = target.select(-1, 1), tx1 = target.select(-1, 2), ty1 = target.select(-1, 3);
        Tensor interW = (minimum(px1, tx1) - maximum(px0, tx0)).clamp_min(Scalars.Zero);
        Tensor interH = (minimum(py1, ty1) - maximum(py0, ty0)).clamp_min(Scalars.Zero);
        Tensor inter = interW * interH;
        Tensor union = ((px1 - px0) * (py1 - py0)).add_((tx1 - tx0) * (ty1 - ty0), Scalars.One) - inter;
        Tensor iou = inter / union.add(eps, Scalars.One);
        Tensor hull = (maximum(px1, tx1) - minimum(px0, tx0)) * (maximum(py1, ty1) - minimum(py0, ty0));
        return Scalars.OneMinus(iou - (hull - union) / hull.add(eps, Scalars.One)).MoveToOuterDisposeScope();
    }
}
