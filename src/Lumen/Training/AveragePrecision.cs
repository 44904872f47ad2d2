using Lumen.Data.Boxes;
using Lumen.Models;

namespace Lumen.Training;

/// <summary>COCO's detection figures for a set of images.</summary>
/// <param name="Ap50">Average precision at IoU 0.5, mean over the classes that have true boxes.</param>
/// <param name="Ap">Average precision averaged over IoU 0.5, 0.55, …, 0.95 (COCO's AP), mean over those classes.</param>
/// <param name="Recall50">Share of the true boxes found at IoU 0.5 (with at most 100 boxes per image), mean over those classes.</param>
/// <param name="PerClassAp50">Per class, AP at IoU 0.5; NaN for a class without true boxes.</param>
/// <param name="PerClassAp">Per class, AP over 0.5:0.95; NaN for a class without true boxes.</param>
/// <param name="PerClassRecall50">Per class, recall at IoU 0.5; NaN for a class without true boxes.</param>
/// <param name="PrecisionRecall50">Per class, the precision at each of the 101 recall points 0, 0.01, …, 1 at IoU 0.5 (the PR curve).</param>
public sealed record ApResult(double Ap50, double Ap, double Recall50, IReadOnlyList<double> PerClassAp50, IReadOnlyList<double> PerClassAp,
    IReadOnlyList<double> PerClassRecall50, IReadOnlyList<double[]> PrecisionRecall50);

/// <summary>
/// COCO's average precision (pycocotools' COCOeval, bounding boxes): per image and class the
/// detections best first (at most <see cref="MaxPerImage"/>), each matched greedily to the unmatched true
/// box it overlaps most if that IoU reaches the threshold; over all images, detections by score make the
/// precision/recall curve, precision is made non-increasing and read at 101 recall points (0, 0.01, …,
/// 1; 0 past the last recall reached), AP is their mean. Classes without true boxes are left out of the
/// means, as COCO does; with none at all every figure is NaN.
/// </summary>
public static class AveragePrecision
{
    /// <summary>COCO's maxDets: detections per image and class that count.</summary>
    public const int MaxPerImage = 100;

    /// <summary>IoU thresholds 0.5, 0.55, …, 0.95.</summary>
    public static IReadOnlyList<double> Thresholds { get; } = Enumerable.Range(0, 10).Select(i => 0.5 + 0.05 * i).ToArray();

    /// <summary>Computes the figures for images' <paramref name="detections"/> and <paramref name="truths"/> (parallel lists).</summary>
    public static ApResult Compute(IReadOnlyList<IReadOnlyList<DetectedBox>> detections, IReadOnlyList<IReadOnlyList<TrueBox>> truths, int classes)
    {
        if (detections.Count != truths.Count) throw new ArgumentException($"{detections.Count} images of detections but {truths.Count} of true boxes", nameof(truths));
        var ap50 = new double[classes];
        var ap = new double[classes];
        var recall50 = new double[classes];
        var curves = new double[classes][];
        for (int c = 0; c < classes; c++)
        {
            int total = truths.Sum(t => t.Count(b => b.Class == c));
            if (total == 0)
            {
                ap50[c] = ap[c] = recall50[c] = double.NaN;
                curves[c] = new double[101];
                continue;
            }
            double sum = 0;
            for (int k = 0; k < Thresholds.Count; k++)
            {
                var (value, recall, curve) = ClassAp(detections, truths, c, Thresholds[k], total);
                sum += value;
                if (k == 0) (ap50[c], recall50[c], curves[c]) = (value, recall, curve);
            }
            ap[c] = sum / Thresholds.Count;
        }
        static double Mean(double[] values) => values.Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Average();
        return new ApResult(Mean(ap50), Mean(ap), Mean(recall50), ap50, ap, recall50, curves);
    }

    /// <summary>
    /// The score threshold at which the boxes found best match the true ones (the highest F1 at IoU 0.5,
    /// every class together, boxes matched best first as for AP): between the lowest score kept and the
    /// next one; <paramref name="fallback"/> when there is nothing to match.
    /// </summary>
    public static double BestF1Threshold(IReadOnlyList<IReadOnlyList<DetectedBox>> detections, IReadOnlyList<IReadOnlyList<TrueBox>> truths, int classes, double fallback)
    {
        int total = truths.Sum(t => t.Count);
        var scored = new List<(float Score, bool Hit)>();
        for (int c = 0; c < classes; c++) scored.AddRange(Matches(detections, truths, c, 0.5));
        if (total == 0 || scored.Count == 0) return fallback;
        scored.Sort((a, b) => b.Score.CompareTo(a.Score));
        int tp = 0, best = -1;
        double bestF1 = -1;
        for (int k = 0; k < scored.Count; k++)
        {
            if (scored[k].Hit) tp++;
            double f1 = 2.0 * tp / (k + 1 + total);
            // A cut only between different scores: boxes of equal score are kept or dropped together.
            if (f1 > bestF1 && (k == scored.Count - 1 || scored[k + 1].Score < scored[k].Score)) (bestF1, best) = (f1, k);
        }
        return best == scored.Count - 1 ? scored[best].Score / 2.0 : (scored[best].Score + scored[best + 1].Score) / 2.0;
    }

    /// <summary>Every detection of class <paramref name="c"/> with whether it found a true box at <paramref name="threshold"/> (COCO's greedy matching, best first per image).</summary>
    private static List<(float Score, bool Hit)> Matches(IReadOnlyList<IReadOnlyList<DetectedBox>> detections, IReadOnlyList<IReadOnlyList<TrueBox>> truths, int c, double threshold)
    {
        var scored = new List<(float Score, bool Hit)>();
        for (int i = 0; i < detections.Count; i++)
        {
            var gt = truths[i].Where(b => b.Class == c).ToList();
            var matched = new bool[gt.Count];
            // Stable order by score, as COCO's mergesort.
            foreach (var d in detections[i].Where(d => d.Class == c).OrderByDescending(d => d.Score).Take(MaxPerImage))
            {
                int best = -1;
                double bestIou = Math.Min(threshold, 1 - 1e-10);
                for (int g = 0; g < gt.Count; g++)
                {
                    if (matched[g]) continue;
                    double iou = d.Iou(gt[g].XMin, gt[g].YMin, gt[g].XMax, gt[g].YMax);
                    if (iou < bestIou) continue;
                    bestIou = iou;
                    best = g;
                }
                if (best >= 0) matched[best] = true;
                scored.Add((d.Score, best >= 0));
            }
        }
        return scored;
    }

    private static (double Ap, double Recall, double[] Curve) ClassAp(IReadOnlyList<IReadOnlyList<DetectedBox>> detections,
        IReadOnlyList<IReadOnlyList<TrueBox>> truths, int c, double threshold, int total)
    {
        var scored = Matches(detections, truths, c, threshold);
        var order = scored.Select((s, k) => (s, k)).OrderByDescending(p => p.s.Score).ThenBy(p => p.k).Select(p => p.s).ToList();
        var precision = new double[order.Count];
        var recall = new double[order.Count];
        int tp = 0, fp = 0;
        for (int k = 0; k < order.Count; k++)
        {
            if (order[k].Hit) tp++; else fp++;
            recall[k] = (double)tp / total;
            precision[k] = (double)tp / (tp + fp);
        }
        for (int k = order.Count - 2; k >= 0; k--) precision[k] = Math.Max(precision[k], precision[k + 1]);
        var curve = new double[101];
        for (int r = 0; r <= 100; r++)
        {
            double point = r * 0.01; // numpy.linspace(0, 1, 101), as pycocotools, to the last bit
            int at = Array.FindIndex(recall, v => v >= point);
            curve[r] = at < 0 ? 0 : precision[at];
        }
        return (curve.Average(), order.Count == 0 ? 0 : recall[^1], curve);
    }
}
