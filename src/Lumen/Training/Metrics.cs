using Lumen.Data.Boxes;
using Lumen.Models;
using Lumen.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// A validation metric computed over the whole validation set at once (not averaged per batch) from
/// the model's logits and the targets (class indices, or multi-hot for multi-label data).
/// </summary>
public interface IMetric
{
    /// <summary>Column name, as fastai names it (accuracy, error_rate, f1_score, matthews_corrcoef, …).</summary>
    string Name { get; }

    /// <summary>True when larger values are better (used by early stopping and save-best).</summary>
    bool HigherIsBetter { get; }

    /// <summary>Computes the metric for all items.</summary>
    double Compute(Tensor logits, Tensor targets);
}

/// <summary>A metric's value under its name.</summary>
/// <param name="Name">The metric's column name (accuracy, accuracy_multi, …).</param>
/// <param name="Value">Its value.</param>
public sealed record MetricValue(string Name, double Value);

/// <summary>The metrics Lumen offers, with fastai's names and definitions.</summary>
public static class Metrics
{
    /// <summary>Fraction of items whose top class is the target.</summary>
    public static IMetric Accuracy { get; } = new Fn("accuracy", true, (l, t) => l.argmax(1).eq(t).to(ScalarType.Float64).mean().item<double>());

    /// <summary>1 − accuracy.</summary>
    public static IMetric ErrorRate { get; } = new Fn("error_rate", false, (l, t) => 1 - Accuracy.Compute(l, t));

    /// <summary>Fraction of items whose target is among the <paramref name="k"/> highest logits.</summary>
    public static IMetric TopK(int k = 5) => new Fn($"top_{k}_accuracy", true, (l, t) =>
    {
        using var scope = NewDisposeScope();
        var top = l.topk(Math.Min(k, (int)l.shape[1])).indexes;
        return top.eq(t.unsqueeze(1)).any(1).to(ScalarType.Float64).mean().item<double>();
    });

    /// <summary>
    /// Macro-averaged F1 over the classes that occur in the targets or the predictions
    /// (scikit-learn's <c>f1_score(average='macro')</c>, which fastai's F1Score wraps).
    /// </summary>
    public static IMetric MacroF1 { get; } = new Fn("f1_score", true, (l, t) => MacroF1Of(Confusion(l.argmax(1), t, (int)l.shape[1])));

    /// <summary>Matthews correlation coefficient, multi-class form (Gorodkin), the Kvasir paper's headline metric.</summary>
    public static IMetric Mcc { get; } = new Fn("matthews_corrcoef", true, (l, t) => MccOf(Confusion(l.argmax(1), t, (int)l.shape[1])));

    /// <summary>Multi-label: fraction of (item, label) decisions correct at <paramref name="threshold"/> on sigmoid outputs.</summary>
    public static IMetric AccuracyMulti(double threshold = 0.5) => new Fn("accuracy_multi", true, (l, t) =>
    {
        using var scope = NewDisposeScope();
        using var cut = threshold.ToScalar();
        return l.sigmoid().gt(cut).to(ScalarType.Float32).eq(t).to(ScalarType.Float64).mean().item<double>();
    });

    /// <summary>Multi-label: F1 per item between predicted and true label sets, averaged (scikit-learn's average='samples'; an item with neither scores 0).</summary>
    public static IMetric SampleF1(double threshold = 0.5) => new Fn("f1_samples", true, (l, t) =>
    {
        using var scope = NewDisposeScope();
        using var cut = threshold.ToScalar();
        using var two = 2.ToScalar();
        var predicted = l.sigmoid().gt(cut).to(ScalarType.Float64);
        var truth = t.to(ScalarType.Float64);
        var tp = (predicted * truth).sum(1);
        var denominator = predicted.sum(1).add_(truth.sum(1), Scalars.One);
        var f1 = where(denominator.gt(Scalars.Zero), tp.mul(two) / denominator.clamp_min(Scalars.One), zeros_like(tp));
        return f1.mean().item<double>();
    });

    /// <summary>
    /// Segmentation (fastai's <c>Dice</c>): 2·|P ∩ T| / (|P| + |T|) over all validation pixels at once,
    /// per class other than the background (index 0), averaged over those classes; P is the argmax.
    /// </summary>
    public static IMetric Dice { get; } = new Fn("dice", true, (l, t) => PixelOverlap.Dice(PixelOverlap.PerImage(l, t)));

    /// <summary>
    /// Segmentation: the Dice of each image (as <see cref="Dice"/>, over its own pixels; 1 where neither
    /// the image nor the prediction holds a class), averaged over the images: the figure papers report.
    /// </summary>
    public static IMetric DicePerImage { get; } = new Fn("dice_per_image", true, (l, t) => PixelOverlap.DicePerImage(PixelOverlap.PerImage(l, t)));

    /// <summary>Segmentation (fastai's <c>JaccardCoeff</c>): |P ∩ T| / |P ∪ T| over all validation pixels, averaged over the foreground classes.</summary>
    public static IMetric Jaccard { get; } = new Fn("jaccard", true, (l, t) => PixelOverlap.Jaccard(PixelOverlap.PerImage(l, t)));

    /// <summary>Segmentation (fastai's <c>foreground_acc</c>): accuracy over the pixels whose target is not the background (index 0).</summary>
    public static IMetric ForegroundAccuracy { get; } = new Fn("foreground_acc", true, (l, t) => PixelOverlap.ForegroundAccuracy(PixelOverlap.PerImage(l, t)));

    /// <summary>Confusion matrix counts [actual, predicted].</summary>
    public static long[,] Confusion(Tensor predicted, Tensor actual, int classes)
    {
        long[] p = predicted.to(ScalarType.Int64).cpu().data<long>().ToArray();
        long[] a = actual.to(ScalarType.Int64).cpu().data<long>().ToArray();
        var m = new long[classes, classes];
        for (int i = 0; i < p.Length; i++) m[a[i], p[i]]++;
        return m;
    }

    /// <summary>Macro F1 from a confusion matrix, over classes present in actual or predicted.</summary>
    public static double MacroF1Of(long[,] m)
    {
        int k = m.GetLength(0);
        var scores = new List<double>();
        for (int c = 0; c < k; c++)
        {
            long tp = m[c, c], actual = 0, predicted = 0;
            for (int j = 0; j < k; j++) { actual += m[c, j]; predicted += m[j, c]; }
            if (actual == 0 && predicted == 0) continue;
            scores.Add(2.0 * tp / (actual + predicted));
        }
        return scores.Count == 0 ? 0 : scores.Average();
    }

    /// <summary>Multi-class MCC: (c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)); 0 when undefined.</summary>
    public static double MccOf(long[,] m)
    {
        int k = m.GetLength(0);
        double c = 0, s = 0, pt = 0, pp = 0, tt = 0;
        var t = new double[k];
        var p = new double[k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) { t[i] += m[i, j]; p[j] += m[i, j]; s += m[i, j]; }
        for (int i = 0; i < k; i++) { c += m[i, i]; pt += p[i] * t[i]; pp += p[i] * p[i]; tt += t[i] * t[i]; }
        double denominator = Math.Sqrt((s * s - pp) * (s * s - tt));
        return denominator == 0 ? 0 : (c * s - pt) / denominator;
    }

    /// <summary>COCO average precision at IoU 0.5 (detection; see <see cref="AveragePrecision"/>), boxes decoded as <see cref="BoxDecoding.Evaluation"/>.</summary>
    public static IMetric Ap50 { get; } = new Fn("ap50", true, (l, t) => DetectionFigures(l, t).Ap50);

    /// <summary>COCO's AP, averaged over IoU 0.5 to 0.95 (detection).</summary>
    public static IMetric Ap { get; } = new Fn("ap", true, (l, t) => DetectionFigures(l, t).Ap);

    /// <summary>Share of the true boxes found at IoU 0.5 (detection).</summary>
    public static IMetric Recall50 { get; } = new Fn("recall50", true, (l, t) => DetectionFigures(l, t).Recall50);

    /// <summary>The COCO figures of detector outputs (N×L×(C+8)) against padded targets (N×M×5) in the same frame.</summary>
    internal static ApResult DetectionFigures(Tensor outputs, Tensor targets)
    {
        int classes = (int)outputs.shape[2] - FcosDetector.ExtraColumns;
        var detections = BoxDecoding.Evaluation.Decode(outputs);
        return AveragePrecision.Compute(detections, BoxTargets.Read(targets), classes);
    }

    private sealed class Fn(string name, bool higherIsBetter, Func<Tensor, Tensor, double> compute) : IMetric
    {
        public string Name => name;

        public bool HigherIsBetter => higherIsBetter;

        public double Compute(Tensor logits, Tensor targets) => compute(logits, targets);
    }
}
