using System.Globalization;
using Lumen.Imaging;

namespace Lumen.Interpret;

/// <summary>The interpretation figures as images (write them with <see cref="RgbImage.SavePng"/>).</summary>
public static class InterpretationPlots
{
    /// <summary>
    /// An annotated confusion matrix like fastai's <c>plot_confusion_matrix</c>: actual classes on the
    /// rows, predictions on the columns, a white→blue scale, counts (or row fractions) in each cell,
    /// column labels slanted so long names stay readable with 8+ classes.
    /// </summary>
    public static RgbImage ConfusionMatrix(ClassificationInterpretation interpretation, bool normalize = false) =>
        ConfusionMatrix(interpretation.ConfusionMatrix(), interpretation.Classes, normalize);

    /// <summary>The confusion matrix figure of counts <paramref name="m"/> (actual rows, predicted columns), e.g. out-of-fold predictions.</summary>
    public static RgbImage ConfusionMatrix(long[,] m, IReadOnlyList<string> classes, bool normalize = false, string? title = null)
    {
        int k = classes.Count;
        var values = new double[k, k];
        for (int a = 0; a < k; a++)
        {
            double row = 0;
            for (int p = 0; p < k; p++) row += m[a, p];
            for (int p = 0; p < k; p++) values[a, p] = normalize ? (row == 0 ? 0 : m[a, p] / row) : m[a, p];
        }
        double max = Math.Max(1e-9, values.Cast<double>().Max());
        var plot = Charts.NewPlot(title ?? (normalize ? "Confusion matrix (row-normalised)" : "Confusion matrix"), "predicted", "actual");
        int fontSize = Math.Clamp(150 / Math.Max(k, 1), 10, 20);
        for (int a = 0; a < k; a++)
            for (int p = 0; p < k; p++)
            {
                double shade = values[a, p] / max;
                // Row a is drawn at y = a on an inverted axis (row 0 on top), column p at x = p.
                var cell = plot.Add.Rectangle(p - 0.5, p + 0.5, a - 0.5, a + 0.5);
                cell.FillColor = Blues(shade);
                cell.LineWidth = 0;
                string text = normalize ? values[a, p].ToString("0.00", CultureInfo.InvariantCulture) : m[a, p].ToString(CultureInfo.InvariantCulture);
                var label = plot.Add.Text(text, p, a);
                label.LabelFontSize = fontSize;
                label.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
                label.LabelFontColor = shade > 0.55 ? ScottPlot.Colors.White : ScottPlot.Color.FromHex("#202020");
            }
        double[] positions = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(positions, classes.ToArray());
        plot.Axes.Left.SetTicks(positions, classes.ToArray());
        // Slanted column labels keep long class names readable with 8 and more classes.
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.UpperLeft;
        plot.Axes.Bottom.MinimumSize = 30 + 7 * classes.Max(c => c.Length);
        plot.Grid.IsVisible = false;
        plot.Axes.SetLimits(-0.5, k - 0.5, k - 0.5, -0.5);
        int side = Math.Clamp(90 * k, 420, 900);
        return Charts.Render(plot, side + 220, side + 160);
    }

    /// <summary>
    /// A top loss's caption: predicted and actual class each on its own line (so neither is cut off
    /// to make room for the other), then loss / probability of the actual class.
    /// </summary>
    internal static string TopLossCaption(TopLoss t) =>
        $"{t.Predicted}\n{t.Actual}\n{t.Loss.ToString("F2", CultureInfo.InvariantCulture)} / {(float.IsNaN(t.ProbabilityOfActual) ? "-" : t.ProbabilityOfActual.ToString("F2", CultureInfo.InvariantCulture))}";

    /// <summary>fastai's <c>plot_top_losses</c>: each image captioned "predicted / actual / loss / probability of actual", optionally with Grad-CAM.</summary>
    public static RgbImage TopLosses(ClassificationInterpretation interpretation, int k = 16, bool gradCam = false)
    {
        var top = interpretation.TopLosses(k);
        if (top.Count == 0) throw new LumenException("there are no items to show");
        var images = gradCam
            ? interpretation.GradCamImages(top.Select(t => t.Item).ToList())
            : top.Select(t => interpretation.DisplayImage(t.Item)).ToList();
        var cells = top.Select((t, i) => new GridCell(images[i], TopLossCaption(t), Highlight: t.Predicted != t.Actual)).ToList();
        return ImageGrid.Render(cells, 180, title: (gradCam ? "Grad-CAM on top losses: " : "Top losses: ") + "predicted, actual, loss / probability of actual");
    }

    /// <summary>
    /// Side by side: up to <paramref name="k"/> images of each class of a confused pair, misclassified
    /// ones first (a row per actual class), to see what separates them.
    /// </summary>
    public static RgbImage ConfusedPair(ClassificationInterpretation interpretation, string first, string second, int k = 5)
    {
        long[] predicted = interpretation.PredictedIndices;
        var rows = new List<GridCell>();
        foreach (var (actual, other) in new[] { (first, second), (second, first) })
        {
            int otherIndex = interpretation.Classes.ToList().IndexOf(other);
            var picks = Enumerable.Range(0, interpretation.Predictions.Count)
                .Where(i => interpretation.Predictions.Items[i].Labels[0] == actual)
                .OrderByDescending(i => predicted[i] == otherIndex).ThenBy(i => i).Take(k).ToList();
            foreach (int i in picks)
                rows.Add(new GridCell(interpretation.DisplayImage(interpretation.Predictions.Items[i]),
                    $"actual {actual}\npredicted {interpretation.Classes[(int)predicted[i]]}", Highlight: predicted[i] != interpretation.Classes.ToList().IndexOf(actual)));
            while (rows.Count % k != 0) rows.Add(new GridCell(RgbImage.Filled(8, 8, 255, 255, 255), ""));
        }
        if (rows.Count == 0) throw new LumenException($"no images of '{first}' or '{second}' to show");
        return ImageGrid.Render(rows, 150, columns: k, title: $"{first} vs {second}");
    }

    /// <summary>Reliability diagram: accuracy against confidence per bin, with the diagonal of perfect calibration and the ECE.</summary>
    public static RgbImage Reliability(Calibration calibration)
    {
        int bins = calibration.BinCount.Length;
        var plot = Charts.NewPlot($"Reliability diagram (ECE {calibration.Ece.ToString("F3", CultureInfo.InvariantCulture)})",
            "confidence (top probability); bar labels: items per bin", "accuracy");
        double width = 1.0 / bins;
        var bars = Enumerable.Range(0, bins).Where(b => calibration.BinCount[b] > 0).Select(b => new ScottPlot.Bar
        {
            Position = (b + 0.5) * width,
            Value = calibration.BinAccuracy[b],
            Size = width * 0.9,
            FillColor = ScottPlot.Color.FromHex("#3182BD").WithAlpha(0.8),
            Label = calibration.BinCount[b].ToString(CultureInfo.InvariantCulture),
        }).ToList();
        var series = plot.Add.Bars(bars);
        series.ValueLabelStyle.FontSize = 12;
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LinePattern = ScottPlot.LinePattern.Dashed;
        diagonal.Color = ScottPlot.Colors.Gray;
        plot.Axes.SetLimits(0, 1, 0, 1.08);
        return Charts.Render(plot, 560, 540);
    }

    /// <summary>matplotlib's "Blues"-like scale from near white (0) to dark blue (1).</summary>
    private static ScottPlot.Color Blues(double v)
    {
        v = Math.Clamp(v, 0, 1);
        byte Lerp(byte from, byte to) => (byte)(from + (to - from) * v);
        return new ScottPlot.Color(Lerp(0xF7, 0x08), Lerp(0xFB, 0x30), Lerp(0xFF, 0x6B));
    }
}
