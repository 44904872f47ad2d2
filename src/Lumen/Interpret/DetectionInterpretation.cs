using System.Globalization;
using System.Text;
using System.Text.Json;
using Lumen.Data;
using Lumen.Data.Boxes;
using Lumen.Files;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Training;

namespace Lumen.Interpret;

/// <summary>
/// Where a detector errs: every image's boxes found at its own size and scored with COCO's average
/// precision, the precision-recall curve of each class at IoU 0.5, and the images with missed
/// findings (a true box no shown box overlaps by half) and false alarms (a shown box that overlaps
/// no true box by half), drawn with the true boxes dashed and the found ones solid.
/// Boxes count as shown at the model's own score threshold (<see cref="Predictor.BoxDecoding"/>).
/// </summary>
public sealed class DetectionInterpretation
{
    private readonly Predictor _predictor;

    private DetectionInterpretation(Predictor predictor, IReadOnlyList<(LabelledItem Item, BoxPrediction Prediction)> scored)
    {
        _predictor = predictor;
        Scored = scored;
        Figures = Evaluation.DetectionFigures(scored, predictor.Classes);
        Metrics = Evaluation.Metrics(Figures);
    }

    /// <summary>Every scored image with every box found (down to <see cref="BoxDecoding.Evaluation"/>'s threshold), in item order.</summary>
    public IReadOnlyList<(LabelledItem Item, BoxPrediction Prediction)> Scored { get; }

    /// <summary>COCO's figures over all scored images.</summary>
    public ApResult Figures { get; }

    /// <summary>The detection metrics (ap50, ap, recall50).</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; }

    /// <summary>Finds the boxes of <paramref name="items"/> (images with boxes) with <paramref name="predictor"/>.</summary>
    /// <exception cref="LumenException">The model does not find boxes, or no image could be read.</exception>
    public static DetectionInterpretation FromModel(Predictor predictor, IReadOnlyList<LabelledItem> items, IProgressReporter? progress = null)
    {
        if (!predictor.Info.Task.PerBox) throw new LumenException($"this is a {predictor.Info.Task.Name} model, not a detector");
        var (scored, skipped) = Evaluation.Detect(predictor, items, progress);
        foreach (var file in skipped) (progress ?? NullProgress.Instance).Warn($"skipped {file.Path}: {file.Reason}");
        return new DetectionInterpretation(predictor, scored);
    }

    /// <summary>The interpretation of boxes already found (by <see cref="Evaluation.Detect"/>).</summary>
    public static DetectionInterpretation FromScored(Predictor predictor, IReadOnlyList<(LabelledItem Item, BoxPrediction Prediction)> scored) => new(predictor, scored);

    /// <summary>An image's errors at the display threshold: true boxes missed and shown boxes that match nothing.</summary>
    /// <param name="Item">The image.</param>
    /// <param name="Shown">Its boxes at the display threshold.</param>
    /// <param name="Missed">True boxes no shown box of their class overlaps by IoU 0.5.</param>
    /// <param name="FalseAlarms">Shown boxes that overlap no true box of their class by IoU 0.5.</param>
    public sealed record ImageErrors(LabelledItem Item, IReadOnlyList<PredictedBox> Shown, IReadOnlyList<LabelledBox> Missed, IReadOnlyList<PredictedBox> FalseAlarms);

    /// <summary>Every image's errors, the images with the most first.</summary>
    public IReadOnlyList<ImageErrors> Errors()
    {
        double threshold = _predictor.BoxDecoding.ScoreThreshold;
        var result = new List<ImageErrors>();
        foreach (var (item, prediction) in Scored)
        {
            var shown = prediction.Boxes.Where(b => b.Score >= threshold).ToList();
            var truths = item.Boxes!.Boxes;
            static double Iou(PredictedBox p, LabelledBox t) => LabelledBox.Iou(new LabelledBox(p.Label, p.XMin, p.YMin, p.XMax, p.YMax), t);
            var missed = truths.Where(t => !shown.Any(p => p.Label == t.Label && Iou(p, t) >= 0.5)).ToList();
            var alarms = shown.Where(p => !truths.Any(t => p.Label == t.Label && Iou(p, t) >= 0.5)).ToList();
            result.Add(new ImageErrors(item, shown, missed, alarms));
        }
        return result.OrderByDescending(e => e.Missed.Count + e.FalseAlarms.Count).ThenBy(e => e.Item.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>The precision-recall curve of each class with true boxes, at IoU 0.5 (COCO's 101 recall points).</summary>
    public RgbImage PrecisionRecall()
    {
        var plot = Charts.NewPlot($"Precision-recall at IoU 0.5 (AP50 {Figures.Ap50.ToString("F3", CultureInfo.InvariantCulture)})", "recall", "precision");
        var recall = Enumerable.Range(0, 101).Select(r => r * 0.01).ToArray();
        for (int c = 0; c < _predictor.Classes.Count; c++)
        {
            if (double.IsNaN(Figures.PerClassAp50[c])) continue;
            var line = plot.Add.Scatter(recall, Figures.PrecisionRecall50[c]);
            line.MarkerSize = 0;
            line.LineWidth = 2;
            var (r, g, b) = BoxDrawing.Colour(c);
            line.Color = new ScottPlot.Color(r, g, b);
            line.LegendText = $"{_predictor.Classes[c]} (AP50 {Figures.PerClassAp50[c].ToString("F3", CultureInfo.InvariantCulture)})";
        }
        plot.Axes.SetLimits(0, 1, 0, 1.02);
        plot.ShowLegend(ScottPlot.Alignment.LowerLeft);
        return Charts.Render(plot, 640, 440);
    }

    /// <summary>
    /// The <paramref name="k"/> images with the most errors, true boxes dashed and shown boxes solid,
    /// captioned with what was missed and what was a false alarm.
    /// </summary>
    public RgbImage WorstImages(int k = 8, int cellSize = 240)
    {
        var cells = new List<GridCell>();
        foreach (var e in Errors().Where(e => e.Missed.Count + e.FalseAlarms.Count > 0).Take(k))
        {
            RgbImage image = ImageDecoder.Decode(e.Item.Path);
            var vocab = Data.Vocabulary.InOrder(_predictor.Classes);
            var drawn = e.Item.Boxes!.Boxes.Select(t => new DrawnBox(t.XMin, t.YMin, t.XMax, t.YMax, "", vocab.IndexOf(t.Label), Dashed: true))
                .Concat(e.Shown.Select(p => new DrawnBox(p.XMin, p.YMin, p.XMax, p.YMax, p.Score.ToString("0.00", CultureInfo.InvariantCulture),
                    e.FalseAlarms.Contains(p) ? 1 : vocab.IndexOf(p.Label)))).ToList();
            cells.Add(new GridCell(BoxDrawing.Draw(image, drawn), $"{Path.GetFileNameWithoutExtension(e.Item.Path)}\n{e.Missed.Count} missed, {e.FalseAlarms.Count} false alarm(s)", Highlight: true));
        }
        if (cells.Count == 0) cells.Add(new GridCell(RgbImage.Filled(cellSize, cellSize, 255, 255, 255), "no missed finding, no false alarm"));
        return ImageGrid.Render(cells, cellSize, columns: 4, title: "missed findings and false alarms: true boxes dashed, found boxes solid (false alarms red)");
    }

    /// <summary>
    /// Writes <c>precision_recall.png</c>, <c>errors.png</c>, <c>metrics.json</c> (the metrics, per class,
    /// and every image's true, shown, missed and false boxes) and <c>report.html</c> into <paramref name="folder"/>.
    /// </summary>
    /// <returns>The files written.</returns>
    public IReadOnlyList<string> Write(string folder, string title, string subtitle, int worst = 8)
    {
        Directory.CreateDirectory(folder);
        RgbImage curve = PrecisionRecall(), errors = WorstImages(worst);
        string curvePath = Path.Combine(folder, "precision_recall.png"), errorsPath = Path.Combine(folder, "errors.png");
        curve.SavePng(curvePath);
        errors.SavePng(errorsPath);
        string metricsPath = Path.Combine(folder, "metrics.json");
        var classes = _predictor.Classes;
        AtomicFile.WriteAllText(metricsPath, JsonSerializer.Serialize(new
        {
            task = _predictor.Info.Task.Name,
            images = Scored.Count,
            metrics = Metrics,
            per_class = classes.Select((c, i) => new { label = c, ap50 = Finite(Figures.PerClassAp50[i]), ap = Finite(Figures.PerClassAp[i]), recall50 = Finite(Figures.PerClassRecall50[i]) }),
            score_threshold = _predictor.BoxDecoding.ScoreThreshold,
            per_image = Errors().OrderBy(e => e.Item.Path, StringComparer.Ordinal)
                .Select(e => new { file = e.Item.Path, boxes = e.Item.Boxes!.Count, shown = e.Shown.Count, missed = e.Missed.Count, false_alarms = e.FalseAlarms.Count }),
        }, LumenJson.Options));
        var perClass = new StringBuilder("<table><tr><th>class</th><th>AP50</th><th>AP</th><th>recall50</th></tr>");
        for (int i = 0; i < classes.Count; i++)
            perClass.Append($"<tr><td>{ReportPage.Encode(classes[i])}</td><td>{F(Figures.PerClassAp50[i])}</td><td>{F(Figures.PerClassAp[i])}</td><td>{F(Figures.PerClassRecall50[i])}</td></tr>");
        var page = new ReportPage(title, subtitle, Metrics)
            .Section("Per class", perClass.Append("</table>").ToString())
            .Picture("Precision and recall", curve, "precision-recall curve at IoU 0.5")
            .Picture("Missed findings and false alarms", errors, "the images with the most errors");
        string reportPath = Path.Combine(folder, "report.html");
        AtomicFile.WriteAllText(reportPath, page.ToString());
        return new[] { curvePath, errorsPath, metricsPath, reportPath };
    }

    private static double? Finite(double v) => double.IsNaN(v) ? null : v;

    private static string F(double v) => double.IsNaN(v) ? "–" : v.ToString("F4", CultureInfo.InvariantCulture);
}
