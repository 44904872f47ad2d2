using Lumen.Data;
using Lumen.Models;
using Lumen.Tensors;
using TorchSharp;
using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Tasks;

/// <summary>
/// Labelled boxes (see <see cref="ImageTask.Detection"/>, fastai's <c>BBoxLblBlock</c>): outputs are the
/// detector's rows N×L×(C+8) (see <see cref="FcosDetector"/>), targets the items' boxes moved with the
/// images by the data loader, padded to the loader's most boxes per image: N×M×5 (class index, or −1
/// for padding; then the corners in input pixels). Each class is its own sigmoid: there is no background class.
/// </summary>
internal sealed class Detection : ImageTask
{
    public override string Name => "detection";

    public override bool PerBox => true;

    /// <summary>Never called: a detection's targets are its items' boxes, which the data loader moves with the images.</summary>
    public override Tensor Targets(IReadOnlyList<LabelledItem> items, Vocabulary vocab, Device device) =>
        throw new InvalidOperationException("detection targets are the items' boxes; the data loader moves them with the images");

    /// <summary>FCOS's focal, GIoU and centre-ness losses (see <see cref="DetectionLoss"/>).</summary>
    public override Loss DefaultLoss(IReadOnlyList<LabelledItem> trainItems, Vocabulary vocab, TrainingOptions options) => Loss.Detection();

    public override Loss EvaluationLoss { get; } = Loss.Detection();

    /// <summary>COCO's AP at IoU 0.5 (the polyp papers' figure), AP over 0.5:0.95, and recall at 0.5.</summary>
    public override IReadOnlyList<IMetric> DefaultMetrics(int classes) => new[] { Metrics.Ap50, Metrics.Ap, Metrics.Recall50 };

    public override IMetric SummaryMetric => Metrics.Ap50;

    /// <summary>Never called: MixUp blends whole images and has no meaning for boxes; the MixUp callback refuses detection data.</summary>
    public override Tensor MixUpLoss(Loss loss, Tensor logits, Tensor targets, Tensor partnerTargets, Tensor lambda) =>
        throw new InvalidOperationException("MixUp does not apply to boxes");

    /// <summary>The class and centre-ness columns through a sigmoid; distances and locations as they are.</summary>
    public override Tensor Probabilities(Tensor logits) => MapScores(logits, t => t.sigmoid());

    /// <summary>The inverse of <see cref="Probabilities"/>, probabilities kept inside (0, 1).</summary>
    public override Tensor Logits(Tensor probabilities)
    {
        using var low = 1e-7.ToScalar();
        using var high = (1 - 1e-7).ToScalar();
        return MapScores(probabilities, t => t.clamp(low, high).logit());
    }

    private static Tensor MapScores(Tensor rows, Func<Tensor, Tensor> map)
    {
        using var scope = NewDisposeScope();
        int classes = (int)rows.shape[2] - FcosDetector.ExtraColumns;
        Tensor result = rows.clone();
        result.narrow(2, 0, classes).copy_(map(rows.narrow(2, 0, classes)));
        result.narrow(2, classes + 4, 1).copy_(map(rows.narrow(2, classes + 4, 1)));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>None: a detector's graph is exported with its raw rows (export refuses detection for now).</summary>
    public override string OnnxActivation => throw new InvalidOperationException("a detector's ONNX graph ends with its raw rows");

    /// <summary>Never called: a detection decides per box (see <see cref="BoxDecoding"/>).</summary>
    public override IReadOnlyList<int> Decide(ReadOnlySpan<float> probabilities, int best, double threshold) =>
        throw new InvalidOperationException("a detection decides per box");

    /// <summary>None: an image holds any number of objects.</summary>
    public override long[,]? ConfusionMatrix(Tensor logits, Tensor targets, int classes) => null;
}
