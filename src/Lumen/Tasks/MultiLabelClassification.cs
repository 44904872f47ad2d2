using Lumen.Data;
using TorchSharp;
using Lumen.Tensors;
using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Tasks;

/// <summary>Any number of classes per image (see <see cref="ImageTask.MultiLabel"/>): targets are multi-hot (N×C, float32).</summary>
internal sealed class MultiLabelClassification : ImageTask
{
    public override string Name => "multi-label";

    public override Tensor Targets(IReadOnlyList<LabelledItem> items, Vocabulary vocab, Device device)
    {
        var hot = new float[items.Count * vocab.Count];
        for (int i = 0; i < items.Count; i++)
            foreach (string label in items[i].Labels) hot[i * vocab.Count + vocab.IndexOf(label)] = 1f;
        return tensor(hot, new long[] { items.Count, vocab.Count }, ScalarType.Float32, device);
    }

    /// <summary>Binary cross-entropy with logits (label smoothing and class weights are single-label options).</summary>
    public override Loss DefaultLoss(IReadOnlyList<LabelledItem> trainItems, Vocabulary vocab, TrainingOptions options) => Loss.BinaryCrossEntropy();

    public override Loss EvaluationLoss { get; } = Loss.BinaryCrossEntropy();

    /// <summary>fastai's accuracy_multi and sample-averaged F1, both at threshold 0.5.</summary>
    public override IReadOnlyList<IMetric> DefaultMetrics(int classes) => new[] { Metrics.AccuracyMulti(), Metrics.SampleF1() };

    public override IMetric SummaryMetric { get; } = Metrics.AccuracyMulti();

    /// <summary>fastai's MixUp for multi-hot targets: the loss of the mixed targets λ·y + (1 − λ)·y[perm].</summary>
    public override Tensor MixUpLoss(Loss loss, Tensor logits, Tensor targets, Tensor partnerTargets, Tensor lambda)
    {
        var lamY = lambda.unsqueeze(1);
        return loss.Mean(logits, (targets * lamY).add_(partnerTargets * Scalars.OneMinus(lamY), Scalars.One));
    }

    public override Tensor Probabilities(Tensor logits) => logits.sigmoid();

    /// <summary>logit(p), with p kept inside (0, 1) so saturated outputs stay finite.</summary>
    public override Tensor Logits(Tensor probabilities)
    {
        using var low = 1e-7.ToScalar();
        using var high = (1 - 1e-7).ToScalar();
        return probabilities.clamp(low, high).logit();
    }

    public override string OnnxActivation => "Sigmoid";

    public override IReadOnlyList<int> Decide(ReadOnlySpan<float> probabilities, int best, double threshold)
    {
        var chosen = new List<int>();
        for (int c = 0; c < probabilities.Length; c++)
            if (probabilities[c] > threshold) chosen.Add(c);
        return chosen;
    }

    public override long[,]? ConfusionMatrix(Tensor logits, Tensor targets, int classes) => null;
}
