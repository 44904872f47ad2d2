namespace Lumen.Interpret;

/// <summary>Precision, recall, F1 and support of one class (or an average).</summary>
public sealed record ClassScores(string Label, double Precision, double Recall, double F1, int Support);

/// <summary>
/// scikit-learn's classification report: per-class precision, recall, F1 and support, macro and
/// support-weighted averages, accuracy and MCC (single-label). Undefined ratios (no predictions or no
/// support) count as 0, as scikit-learn's zero_division=0.
/// </summary>
public sealed record ClassificationReport(IReadOnlyList<ClassScores> Classes, ClassScores MacroAverage, ClassScores WeightedAverage, double Accuracy, double? Mcc)
{
    /// <summary>From a confusion matrix [actual, predicted].</summary>
    public static ClassificationReport FromConfusion(long[,] m, IReadOnlyList<string> labels)
    {
        int k = labels.Count;
        var rows = new List<ClassScores>();
        long total = 0, correct = 0;
        for (int c = 0; c < k; c++)
        {
            long tp = m[c, c], actual = 0, predicted = 0;
            for (int j = 0; j < k; j++) { actual += m[c, j]; predicted += m[j, c]; total += m[c, j]; }
            correct += tp;
            rows.Add(Scores(labels[c], tp, predicted - tp, actual - tp, (int)actual));
        }
        return new ClassificationReport(rows, Macro(rows), Weighted(rows), total == 0 ? 0 : (double)correct / total, Training.Metrics.MccOf(m));
    }

    /// <summary>Multi-label: per-label scores from per-label (tp, fp, fn) counts at the threshold; accuracy is accuracy_multi.</summary>
    public static ClassificationReport FromMultiLabel(IReadOnlyList<string> labels, long[] tp, long[] fp, long[] fn, double accuracyMulti)
    {
        var rows = labels.Select((l, i) => Scores(l, tp[i], fp[i], fn[i], (int)(tp[i] + fn[i]))).ToList();
        return new ClassificationReport(rows, Macro(rows), Weighted(rows), accuracyMulti, null);
    }

    internal static ClassScores Scores(string label, long tp, long fp, long fn, int support)
    {
        double precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp);
        double recall = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
        double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        return new ClassScores(label, precision, recall, f1, support);
    }

    private static ClassScores Macro(IReadOnlyList<ClassScores> rows) =>
        new("macro avg", rows.Average(r => r.Precision), rows.Average(r => r.Recall), rows.Average(r => r.F1), rows.Sum(r => r.Support));

    private static ClassScores Weighted(IReadOnlyList<ClassScores> rows)
    {
        double n = rows.Sum(r => r.Support);
        if (n == 0) return new ClassScores("weighted avg", 0, 0, 0, 0);
        return new ClassScores("weighted avg", rows.Sum(r => r.Precision * r.Support) / n, rows.Sum(r => r.Recall * r.Support) / n, rows.Sum(r => r.F1 * r.Support) / n, (int)n);
    }
}

/// <summary>Reliability of the predicted probabilities: confidence bins and expected calibration error.</summary>
/// <param name="BinConfidence">Mean confidence per bin (NaN when empty).</param>
/// <param name="BinAccuracy">Accuracy per bin (NaN when empty).</param>
/// <param name="BinCount">Items per bin.</param>
/// <param name="Ece">Σ_b (n_b / N)·|accuracy_b − confidence_b|.</param>
public sealed record Calibration(double[] BinConfidence, double[] BinAccuracy, int[] BinCount, double Ece)
{
    /// <summary>Bins items by confidence (the top probability) into <paramref name="bins"/> equal-width bins over [0, 1].</summary>
    public static Calibration Compute(IReadOnlyList<double> confidence, IReadOnlyList<bool> correct, int bins = 10)
    {
        var conf = new double[bins];
        var acc = new double[bins];
        var count = new int[bins];
        for (int i = 0; i < confidence.Count; i++)
        {
            int b = Math.Min(bins - 1, (int)(confidence[i] * bins));
            conf[b] += confidence[i];
            acc[b] += correct[i] ? 1 : 0;
            count[b]++;
        }
        double ece = 0;
        for (int b = 0; b < bins; b++)
        {
            if (count[b] == 0) { conf[b] = acc[b] = double.NaN; continue; }
            conf[b] /= count[b];
            acc[b] /= count[b];
            ece += (double)count[b] / confidence.Count * Math.Abs(acc[b] - conf[b]);
        }
        return new Calibration(conf, acc, count, ece);
    }
}
