using System.Globalization;
using System.Text.Json;
using Lumen.Data;
using Lumen.Files;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Training;

namespace Lumen.Interpret;

/// <summary>
/// Where a segmentation model errs: every image scored at its own size (<see cref="PixelOverlap"/>),
/// the distribution of the Dice per image, and the images it did worst on with the true and the
/// predicted mask drawn side by side: what top losses and the confusion matrix are for classifiers.
/// </summary>
public sealed class SegmentationInterpretation
{
    private readonly Predictor _predictor;
    private readonly int _tta;

    private SegmentationInterpretation(Predictor predictor, IReadOnlyList<(LabelledItem Item, PixelOverlap Overlap)> scored, int tta)
    {
        _predictor = predictor;
        _tta = tta;
        Scored = scored;
        Metrics = Evaluation.Metrics(scored.Select(s => s.Overlap).ToList());
    }

    /// <summary>Every scored image with its pixel counts, in item order.</summary>
    public IReadOnlyList<(LabelledItem Item, PixelOverlap Overlap)> Scored { get; }

    /// <summary>The segmentation metrics over all scored images.</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; }

    /// <summary>Segments <paramref name="items"/> (images with masks) with <paramref name="predictor"/> and counts their pixels.</summary>
    /// <exception cref="LumenException">The model classifies whole images, or no image could be read.</exception>
    public static SegmentationInterpretation FromModel(Predictor predictor, IReadOnlyList<LabelledItem> items, int tta = 0, IProgressReporter? progress = null)
    {
        if (!predictor.Info.Task.PerPixel) throw new LumenException("this model classifies whole images; use ClassificationInterpretation");
        var (scored, skipped) = Evaluation.Segment(predictor, items, tta, progress);
        foreach (var file in skipped) (progress ?? NullProgress.Instance).Warn($"skipped {file.Path}: {file.Reason}");
        return new SegmentationInterpretation(predictor, scored, tta);
    }

    /// <summary>The <paramref name="k"/> images with the lowest Dice, worst first.</summary>
    public IReadOnlyList<(LabelledItem Item, double Dice)> Worst(int k) =>
        Scored.Select(s => (s.Item, Dice: s.Overlap.ImageDice())).OrderBy(s => s.Dice).ThenBy(s => s.Item.Path, StringComparer.Ordinal).Take(k).ToList();

    /// <summary>A histogram of the Dice per image (ten bins over [0, 1]).</summary>
    public RgbImage DiceHistogram()
    {
        var dice = Scored.Select(s => s.Overlap.ImageDice()).ToList();
        var counts = new int[10];
        foreach (double d in dice) counts[Math.Min(9, (int)(d * 10))]++;
        var plot = Charts.NewPlot($"Dice per image ({dice.Count} images, mean {dice.Average().ToString("F3", CultureInfo.InvariantCulture)})", "Dice", "images");
        plot.Add.Bars(Enumerable.Range(0, 10).Select(b => new ScottPlot.Bar
        {
            Position = b * 0.1 + 0.05,
            Value = counts[b],
            Size = 0.09,
            FillColor = ScottPlot.Color.FromHex("#3182BD").WithAlpha(0.8),
        }).ToList());
        plot.Axes.SetLimits(0, 1, 0, Math.Max(1, counts.Max()) * 1.1);
        return Charts.Render(plot, 640, 400);
    }

    /// <summary>
    /// The <paramref name="k"/> worst images, each twice: with its true mask drawn over it, then with the
    /// predicted one, captioned with the Dice. Images are shown at <paramref name="cellSize"/> pixels.
    /// </summary>
    public RgbImage WorstImages(int k = 8, int cellSize = 200)
    {
        var cells = new List<GridCell>();
        foreach (var (item, dice) in Worst(k))
        {
            RgbImage image = ImageDecoder.Decode(item.Path);
            var truth = item.Mask!.Read().Resize(image.Width, image.Height);
            var predicted = _predictor.PredictMask(item.Path, _tta).Mask;
            cells.Add(new GridCell(truth.Overlay(image), $"{Path.GetFileNameWithoutExtension(item.Path)}: truth"));
            cells.Add(new GridCell(predicted.Overlay(image), $"predicted, Dice {dice.ToString("F2", CultureInfo.InvariantCulture)}", Highlight: true));
        }
        return ImageGrid.Render(cells, cellSize, columns: 4, title: "lowest Dice: the true mask, then the predicted one");
    }

    /// <summary>
    /// Writes <c>dice_histogram.png</c>, <c>worst_images.png</c>, <c>metrics.json</c> (the metrics and
    /// every image's Dice) and <c>report.html</c> (all of it in one page) into <paramref name="folder"/>.
    /// </summary>
    /// <returns>The files written.</returns>
    public IReadOnlyList<string> Write(string folder, string title, string subtitle, int worst = 8)
    {
        Directory.CreateDirectory(folder);
        RgbImage histogram = DiceHistogram(), worstImages = WorstImages(worst);
        string histogramPath = Path.Combine(folder, "dice_histogram.png"), worstPath = Path.Combine(folder, "worst_images.png");
        histogram.SavePng(histogramPath);
        worstImages.SavePng(worstPath);
        string metricsPath = Path.Combine(folder, "metrics.json");
        AtomicFile.WriteAllText(metricsPath, JsonSerializer.Serialize(new
        {
            task = _predictor.Info.Task.Name,
            images = Scored.Count,
            metrics = Metrics,
            dice_per_image = Scored.Select(s => new { file = s.Item.Path, dice = s.Overlap.ImageDice() }),
        }, LumenJson.Options));
        var page = new ReportPage(title, subtitle, Metrics)
            .Picture("Dice per image", histogram, "histogram of the Dice per image")
            .Picture("Lowest Dice", worstImages, "the images with the lowest Dice, true and predicted masks");
        string reportPath = Path.Combine(folder, "report.html");
        AtomicFile.WriteAllText(reportPath, page.ToString());
        return new[] { histogramPath, worstPath, metricsPath, reportPath };
    }
}
