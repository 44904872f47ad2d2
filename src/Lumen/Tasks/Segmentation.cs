using Lumen.Data;
using TorchSharp;
using Lumen.Tensors;
using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Tasks;

/// <summary>
/// A class per pixel (see <see cref="ImageTask.Segmentation"/>, fastai's <c>MaskBlock</c>): outputs are
/// N×C×H×W logits, targets the items' masks (N×H×W class indices) moved with the images by the data
/// loader; class 0 is the background.
/// </summary>
internal sealed class Segmentation : SoftmaxTask
{
    public override string Name => "segmentation";

    public override bool PerPixel => true;

    /// <summary>Never called: a segmentation's targets are its items' masks, which the data loader moves with the images.</summary>
    public override Tensor Targets(IReadOnlyList<LabelledItem> items, Vocabulary vocab, Device device) =>
        throw new InvalidOperationException("segmentation targets are the items' masks; the data loader stacks them with the images");

    /// <summary>The pixels' cross-entropy with the options' Dice term.</summary>
    public override Loss DefaultLoss(IReadOnlyList<LabelledItem> trainItems, Vocabulary vocab, TrainingOptions options) =>
        Loss.PixelCrossEntropy(options.DiceWeight);

    public override Loss EvaluationLoss { get; } = Loss.PixelCrossEntropy();

    /// <summary>Dice per image (the papers' figure) and over all pixels (fastai's), Jaccard (IoU) and foreground accuracy.</summary>
    public override IReadOnlyList<IMetric> DefaultMetrics(int classes) =>
        new[] { Metrics.DicePerImage, Metrics.Dice, Metrics.Jaccard, Metrics.ForegroundAccuracy };

    public override IMetric SummaryMetric => Metrics.DicePerImage;

    /// <summary>Never called: a pixel's class is the argmax of its probabilities .</summary>
    public override IReadOnlyList<int> Decide(ReadOnlySpan<float> probabilities, int best, double threshold) =>
        throw new InvalidOperationException("a segmentation decides per pixel");

    /// <summary>None: the images' classes are pixels, not one actual class per image.</summary>
    public override long[,]? ConfusionMatrix(Tensor logits, Tensor targets, int classes) => null;
}
