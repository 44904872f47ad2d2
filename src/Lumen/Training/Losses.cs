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

    private Loss(string name, Func<Tensor, Tensor, Tensor> perItem)
    {
        Name = name;
        _perItem = perItem;
    }

    /// <summary>Describes the loss (for logs and the model file).</summary>
    public string Name { get; }

    /// <summary>Loss of each item, shape N.</summary>
    public Tensor PerItem(Tensor logits, Tensor targets) => _perItem(logits, targets);

    /// <summary>Mean loss over the batch (what is minimised).</summary>
    public Tensor Mean(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        return _perItem(logits, targets).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The default loss for <paramref name="data"/>: binary cross-entropy for multi-label data, else
    /// cross-entropy with the options' label smoothing and, if asked, inverse-frequency class weights.
    /// </summary>
    public static Loss For(Lumen.Data.ImageDataLoaders data, TrainingOptions options)
    {
        if (data.MultiLabel) return BinaryCrossEntropy();
        float[]? weights = null;
        if (options.ClassWeights)
        {
            var counts = data.Vocab.Classes.Select(c => data.Train.Items.Count(i => i.Labels[0] == c)).ToArray();
            weights = counts.Select(c => c == 0 ? 0f : (float)data.Train.Items.Count / (counts.Length * c)).ToArray();
        }
        return CrossEntropy(options.LabelSmoothing, weights);
    }

    /// <summary>
    /// Cross-entropy, optionally with label smoothing (fastai's LabelSmoothingCrossEntropy, eps 0.1:
    /// (1−ε)·NLL + ε·mean over classes of −log p) and per-class weights.
    /// </summary>
    public static Loss CrossEntropy(double labelSmoothing = 0, float[]? classWeights = null)
    {
        if (labelSmoothing < 0 || labelSmoothing >= 1) throw new OptionException("LabelSmoothing", $"must be in [0, 1), got {labelSmoothing}");
        string name = "cross_entropy" + (labelSmoothing > 0 ? $"(label_smoothing={labelSmoothing})" : "") + (classWeights is null ? "" : "(class weights)");
        return new Loss(name, (logits, targets) =>
        {
            using var scope = NewDisposeScope();
            Tensor? weight = classWeights is null ? null : tensor(classWeights, device: logits.device);
            var logp = F.log_softmax(logits, 1);
            var nll = -logp.gather(1, targets.unsqueeze(1)).squeeze(1);
            if (weight is not null) nll = nll * weight[targets];
            if (labelSmoothing == 0) return nll.MoveToOuterDisposeScope();
            var smooth = weight is null ? -logp.mean(new long[] { 1 }) : -(logp * weight).sum(1) / weight.sum();
            return ((1 - labelSmoothing) * nll + labelSmoothing * smooth).MoveToOuterDisposeScope();
        });
    }

    /// <summary>Binary cross-entropy with logits, averaged over labels per item (multi-label).</summary>
    public static Loss BinaryCrossEntropy() => new("bce_with_logits", (logits, targets) =>
    {
        using var scope = NewDisposeScope();
        return F.binary_cross_entropy_with_logits(logits, targets, reduction: nn.Reduction.None).mean(new long[] { 1 }).MoveToOuterDisposeScope();
    });
}
