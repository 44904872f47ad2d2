using System.Globalization;
using Lumen.Imaging;
using SkiaSharp;

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
        int cell = Math.Clamp(560 / Math.Max(k, 1), 36, 90);
        using var labelFont = new SKFont(ImageGrid.CaptionTypeface, 13);
        using var cellFont = new SKFont(ImageGrid.CaptionTypeface, Math.Clamp(cell / 3.2f, 10, 18));
        using var titleFont = new SKFont(ImageGrid.CaptionTypeface, 18);
        float labelWidth = classes.Max(c => labelFont.MeasureText(c)) + 16;
        int left = (int)labelWidth + 40, top = 50 + (int)(labelWidth * 0.72f);
        int width = left + k * cell + 30, height = top + k * cell + 60;
        return Draw(width, height, canvas =>
        {
            using var paint = new SKPaint { IsAntialias = true };
            paint.Color = SKColors.Black;
            canvas.DrawText(title ?? (normalize ? "Confusion matrix (row-normalised)" : "Confusion matrix"), 16, 28, titleFont, paint);
            for (int a = 0; a < k; a++)
            {
                for (int p = 0; p < k; p++)
                {
                    double v = values[a, p] / max;
                    paint.Color = Blues(v);
                    var rect = SKRect.Create(left + p * cell, top + a * cell, cell, cell);
                    canvas.DrawRect(rect, paint);
                    string text = normalize ? values[a, p].ToString("0.00", CultureInfo.InvariantCulture) : m[a, p].ToString(CultureInfo.InvariantCulture);
                    paint.Color = v > 0.55 ? SKColors.White : new SKColor(0x20, 0x20, 0x20);
                    float tw = cellFont.MeasureText(text);
                    canvas.DrawText(text, rect.MidX - tw / 2, rect.MidY + cellFont.Size / 3, cellFont, paint);
                }
                paint.Color = new SKColor(0x20, 0x20, 0x20);
                float lw = labelFont.MeasureText(classes[a]);
                canvas.DrawText(classes[a], left - 8 - lw, top + a * cell + cell / 2f + 4, labelFont, paint);
            }
            for (int p = 0; p < k; p++)
            {
                canvas.Save();
                canvas.Translate(left + p * cell + cell / 2f + 4, top - 8);
                canvas.RotateDegrees(-45);
                canvas.DrawText(classes[p], 0, 0, labelFont, paint);
                canvas.Restore();
            }
            paint.Color = new SKColor(0x40, 0x40, 0x40);
            canvas.DrawText("predicted", left + k * cell / 2f - 30, top + k * cell + 30, labelFont, paint);
            canvas.Save();
            canvas.Translate(18, top + k * cell / 2f + 20);
            canvas.RotateDegrees(-90);
            canvas.DrawText("actual", 0, 0, labelFont, paint);
            canvas.Restore();
        });
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
        const int size = 420, left = 70, top = 50;
        return Draw(size + left + 40, size + top + 70, canvas =>
        {
            using var font = new SKFont(ImageGrid.CaptionTypeface, 13);
            using var titleFont = new SKFont(ImageGrid.CaptionTypeface, 18);
            using var paint = new SKPaint { IsAntialias = true, Color = SKColors.Black };
            canvas.DrawText($"Reliability diagram (ECE {calibration.Ece:F3})", 16, 30, titleFont, paint);
            paint.Style = SKPaintStyle.Stroke;
            paint.Color = new SKColor(0x80, 0x80, 0x80);
            canvas.DrawRect(left, top, size, size, paint);
            paint.PathEffect = SKPathEffect.CreateDash(new[] { 6f, 4f }, 0);
            canvas.DrawLine(left, top + size, left + size, top, paint);
            paint.PathEffect = null;
            paint.Style = SKPaintStyle.Fill;
            float w = size / (float)bins;
            for (int b = 0; b < bins; b++)
            {
                if (calibration.BinCount[b] == 0) continue;
                float h = (float)(calibration.BinAccuracy[b] * size);
                paint.Color = new SKColor(0x31, 0x82, 0xBD, 0xD0);
                canvas.DrawRect(left + b * w + 2, top + size - h, w - 4, h, paint);
                paint.Color = new SKColor(0x20, 0x20, 0x20);
                string n = calibration.BinCount[b].ToString(CultureInfo.InvariantCulture);
                canvas.DrawText(n, left + b * w + w / 2 - font.MeasureText(n) / 2, top + size - h - 4, font, paint);
            }
            paint.Color = new SKColor(0x20, 0x20, 0x20);
            for (int t = 0; t <= 5; t++)
            {
                string label = (t / 5.0).ToString("0.0", CultureInfo.InvariantCulture);
                canvas.DrawText(label, left + t * size / 5f - 10, top + size + 18, font, paint);
                canvas.DrawText(label, left - 30, top + size - t * size / 5f + 4, font, paint);
            }
            canvas.DrawText("confidence (top probability); bar labels: items per bin", left, top + size + 42, font, paint);
            canvas.Save();
            canvas.Translate(20, top + size / 2f + 30);
            canvas.RotateDegrees(-90);
            canvas.DrawText("accuracy", 0, 0, font, paint);
            canvas.Restore();
        });
    }

    /// <summary>matplotlib's "Blues"-like scale from near white (0) to dark blue (1).</summary>
    private static SKColor Blues(double v)
    {
        v = Math.Clamp(v, 0, 1);
        byte Lerp(byte a, byte b) => (byte)(a + (b - a) * v);
        return new SKColor(Lerp(0xF7, 0x08), Lerp(0xFB, 0x30), Lerp(0xFF, 0x6B));
    }

    private static RgbImage Draw(int width, int height, Action<SKCanvas> draw)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            draw(canvas);
        }
        return RgbImage.FromBitmap(bitmap);
    }
}
