using Lumen.Data;
using TorchSharp;
using Lumen.Tensors;
using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Tasks;

/// <summary>One class per image (see <see cref="ImageTask.SingleLabel"/>): targets are class indices (N, int64).</summary>
internal sealed class SingleLabelClassification : SoftmaxTask
{
    public override string Name => "single-label";

    public override Tensor Targets(IReadOnlyList<LabelledItem> items, Vocabulary vocab, Device device) =>
        tensor(items.Select(i => (long)vocab.IndexOf(i.Labels[0])).ToArray(), ScalarType.Int64, device);

    /// <summary>Cross-entropy with the options' label smoothing and, if asked, inverse-frequency class weights.</summary>
    public override Loss DefaultLoss(IReadOnlyList<LabelledItem> trainItems, Vocabulary vocab, TrainingOptions options)
    {
        float[]? weights = null;
        if (options.ClassWeights)
        {
            var counts = vocab.Classes.Select(c => trainItems.Count(i => i.Labels[0] == c)).ToArray();
            weights = counts.Select(c => c == 0 ? 0f : (float)trainItems.Count / (counts.Length * c)).ToArray();
        }
        return Loss.CrossEntropy(options.LabelSmoothing, weights);
    }

    public override Loss EvaluationLoss { get; } = Loss.CrossEntropy();

    /// <summary>fastai's error_rate and accuracy, top-5 accuracy above 5 classes, macro F1 and MCC.</summary>
    public override IReadOnlyList<IMetric> DefaultMetrics(int classes) => classes > 5
        ? new[] { Metrics.ErrorRate, Metrics.Accuracy, Metrics.TopK(5), Metrics.MacroF1, Metrics.Mcc }
        : new[] { Metrics.ErrorRate, Metrics.Accuracy, Metrics.MacroF1, Metrics.Mcc };

    public override IMetric SummaryMetric => Metrics.Accuracy;

    public override IReadOnlyList<int> Decide(ReadOnlySpan<float> probabilities, int best, double threshold) => new[] { best };

    public override long[,] ConfusionMatrix(Tensor logits, Tensor targets, int classes)
    {
        using var predicted = logits.argmax(1);
        return Metrics.Confusion(predicted, targets, classes);
    }
}
