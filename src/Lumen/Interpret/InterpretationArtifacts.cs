using System.Text.Json;
using Lumen.Files;

namespace Lumen.Interpret;

/// <summary>Writes every interpretation artefact into a folder: PNGs, metrics.json and report.html.</summary>
public static class InterpretationArtifacts
{
    /// <summary>
    /// Writes confusion_matrix.png, confusion_matrix_normalized.png, top_losses.png
    /// (top_losses_gradcam.png), confused_pair_1..3.png, calibration.png (single-label), metrics.json and
    /// report.html. Returns the paths written.
    /// </summary>
    public static IReadOnlyList<string> Write(string folder, ReportContent content)
    {
        Directory.CreateDirectory(folder);
        var interp = content.Interpretation;
        var written = new List<string>();
        string Save(string name, Imaging.RgbImage image)
        {
            string path = Path.Combine(folder, name);
            image.SavePng(path);
            written.Add(path);
            return path;
        }
        bool single = !interp.MultiLabel;
        if (single)
        {
            Save("confusion_matrix.png", InterpretationPlots.ConfusionMatrix(interp));
            Save("confusion_matrix_normalized.png", InterpretationPlots.ConfusionMatrix(interp, normalize: true));
            int n = 0;
            foreach (var pair in interp.MostConfused().Take(3))
                Save($"confused_pair_{++n}.png", InterpretationPlots.ConfusedPair(interp, pair.Actual, pair.Predicted));
            Save("calibration.png", InterpretationPlots.Reliability(interp.Calibration()));
        }
        Save("top_losses.png", InterpretationPlots.TopLosses(interp, content.TopLosses));
        if (content.GradCam) Save("top_losses_gradcam.png", InterpretationPlots.TopLosses(interp, content.TopLosses, gradCam: true));

        string metricsPath = Path.Combine(folder, "metrics.json");
        AtomicFile.WriteAllText(metricsPath, JsonSerializer.Serialize(MetricsDocument(interp, content.TopLosses), LumenJson.Options));
        written.Add(metricsPath);
        string reportPath = Path.Combine(folder, "report.html");
        HtmlReport.Write(reportPath, content);
        written.Add(reportPath);
        return written;
    }

    /// <summary>The numbers behind the figures, for scripts: metrics (with and without TTA), confusion matrix, report, calibration, top losses.</summary>
    public static Dictionary<string, object?> MetricsDocument(ClassificationInterpretation interp, int topLosses)
    {
        var doc = new Dictionary<string, object?>
        {
            ["classes"] = interp.Classes,
            ["items"] = interp.Predictions.Count,
            ["task"] = interp.Predictions.Task.Name,
            ["metrics"] = interp.Metrics,
            ["tta_passes"] = interp.TtaPasses,
            ["tta_metrics"] = interp.TtaMetrics,
            ["classification_report"] = interp.Report(),
            ["top_losses"] = interp.TopLosses(topLosses).Select(t => new { file = t.Item.Path, predicted = t.Predicted, actual = t.Actual, loss = t.Loss, probability_of_actual = float.IsNaN(t.ProbabilityOfActual) ? (float?)null : t.ProbabilityOfActual }),
        };
        if (!interp.MultiLabel)
        {
            var m = interp.ConfusionMatrix();
            doc["confusion_matrix"] = Enumerable.Range(0, interp.Classes.Count).Select(a => Enumerable.Range(0, interp.Classes.Count).Select(p => m[a, p]).ToArray()).ToArray();
            doc["most_confused"] = interp.MostConfused();
            var calibration = interp.Calibration();
            doc["expected_calibration_error"] = calibration.Ece;
        }
        return doc;
    }
}
