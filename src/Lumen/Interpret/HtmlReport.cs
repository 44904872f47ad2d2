using System.Globalization;
using System.Net;
using System.Text;
using Lumen.Data;
using Lumen.Imaging;
using Lumen.Training;
using Lumen.Files;

namespace Lumen.Interpret;

/// <summary>What goes into a report; everything but the interpretation is optional.</summary>
public sealed record ReportContent
{
    /// <summary>Report title (e.g. the model and data).</summary>
    public required string Title { get; init; }

    /// <summary>One line under the title (architecture, weights, size, date).</summary>
    public string? Subtitle { get; init; }

    /// <summary>Predictions on the evaluated items.</summary>
    public required ClassificationInterpretation Interpretation { get; init; }

    /// <summary>The data audit (counts per split, unreadable files, duplicates, warnings).</summary>
    public DataAudit? Audit { get; init; }

    /// <summary>A grid of augmented training images.</summary>
    public RgbImage? AugmentationExamples { get; init; }

    /// <summary>LR finder plot (PNG bytes).</summary>
    public byte[]? LrFindPng { get; init; }

    /// <summary>Loss curves (PNG bytes).</summary>
    public byte[]? LossesPng { get; init; }

    /// <summary>Metric curves (PNG bytes).</summary>
    public byte[]? MetricsPng { get; init; }

    /// <summary>The epoch table.</summary>
    public IReadOnlyList<EpochRecord>? History { get; init; }

    /// <summary>How many top losses to show.</summary>
    public int TopLosses { get; init; } = 16;

    /// <summary>Overlay Grad-CAM on the top losses.</summary>
    public bool GradCam { get; init; } = true;

    /// <summary>
    /// Fills what a training run left in <paramref name="run"/> (its history, loss, metrics and LR
    /// finder plots) where this content has nothing yet.
    /// </summary>
    public ReportContent WithRunFolder(RunFolder run)
    {
        static byte[]? Png(string path) => File.Exists(path) ? File.ReadAllBytes(path) : null;
        return this with
        {
            History = History ?? HistoryFile.Read(run.HistoryJson),
            LossesPng = LossesPng ?? Png(run.LossesPlot),
            MetricsPng = MetricsPng ?? Png(run.MetricsPlot),
            LrFindPng = LrFindPng ?? Png(run.LrFindPlot),
        };
    }
}

/// <summary>
/// Writes one self-contained HTML report (images embedded as data URIs, no scripts or external
/// assets, so it opens offline anywhere): data and audit, augmentation, LR finder, training curves
/// and epoch table, metrics and classification report, confusion matrix, most-confused pairs side by
/// side, top losses with Grad-CAM, calibration.
/// </summary>
public static class HtmlReport
{
    /// <summary>Builds the report and writes it atomically to <paramref name="path"/>.</summary>
    public static void Write(string path, ReportContent content) => AtomicFile.WriteAllText(path, Build(content));

    /// <summary>The report's HTML.</summary>
    public static string Build(ReportContent c)
    {
        var interp = c.Interpretation;
        bool single = !interp.MultiLabel;
        var html = new StringBuilder();
        html.Append($$"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{{E(c.Title)}}</title>
            <style>
            :root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --accent:#2f6fb3; --bad:#c0392b; --bg:#f7f9fb; }
            * { box-sizing: border-box; }
            body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
            header { background:#12355b; color:white; padding:28px 40px; }
            header h1 { margin:0 0 4px; font-size:26px; font-weight:600; }
            header p { margin:0; opacity:.85; }
            main { max-width:1180px; margin:0 auto; padding:24px 40px 60px; }
            section { background:white; border:1px solid var(--line); border-radius:10px; padding:20px 24px; margin:20px 0; }
            h2 { margin:0 0 12px; font-size:19px; color:#12355b; }
            .cards { display:flex; flex-wrap:wrap; gap:12px; }
            .card { flex:1 1 150px; border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
            .card b { display:block; font-size:24px; color:var(--accent); }
            .card span { color:var(--muted); font-size:13px; }
            table { border-collapse:collapse; width:100%; margin:8px 0; font-variant-numeric: tabular-nums; }
            th, td { padding:6px 10px; border-bottom:1px solid var(--line); text-align:right; }
            th:first-child, td:first-child { text-align:left; }
            th { background:#f0f4f8; font-weight:600; }
            img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:6px; }
            .warn { color:var(--bad); }
            .muted { color:var(--muted); font-size:13px; }
            .row { display:flex; flex-wrap:wrap; gap:16px; align-items:flex-start; }
            .row p { margin:0; flex:1 1 420px; }
            nav a { color:#cfe3f7; margin-right:14px; text-decoration:none; font-size:13px; }
            </style></head><body>
            <header><h1>{{E(c.Title)}}</h1><p>{{E(c.Subtitle ?? "")}}</p>
            <nav><a href="#metrics">Metrics</a><a href="#confusion">Confusion</a><a href="#losses">Top losses</a><a href="#calibration">Calibration</a><a href="#data">Data</a><a href="#training">Training</a></nav></header>
            <main>
            """);

        // Metrics
        html.Append("<section id=\"metrics\"><h2>Metrics</h2><div class=\"cards\">");
        foreach (var (name, value) in interp.Metrics)
            html.Append($"<div class=\"card\"><b>{F(value)}</b><span>{E(name)}</span></div>");
        html.Append("</div>");
        if (interp.TtaMetrics is { } tta)
        {
            html.Append($"<p>With test-time augmentation ({interp.TtaPasses} passes, β = {Inference.Tta.Beta}):</p><table><tr><th>metric</th><th>plain</th><th>TTA</th></tr>");
            foreach (var (name, value) in tta)
                html.Append($"<tr><td>{E(name)}</td><td>{F(interp.Metrics[name])}</td><td>{F(value)}</td></tr>");
            html.Append("</table>");
        }
        var report = interp.Report();
        html.Append("<h2>Classification report</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>");
        foreach (var row in report.Classes.Append(report.MacroAverage).Append(report.WeightedAverage))
            html.Append($"<tr><td>{E(row.Label)}</td><td>{F(row.Precision)}</td><td>{F(row.Recall)}</td><td>{F(row.F1)}</td><td>{row.Support}</td></tr>");
        html.Append($"</table><p class=\"muted\">accuracy {F(report.Accuracy)}{(report.Mcc is { } mcc ? $", Matthews correlation {F(mcc)}" : "")}; {interp.Predictions.Count} images.</p></section>");

        if (single)
        {
            html.Append("<section id=\"confusion\"><h2>Confusion matrix</h2>");
            html.Append("<div class=\"row\">").Append(Img(InterpretationPlots.ConfusionMatrix(interp), "confusion matrix"))
                .Append(Img(InterpretationPlots.ConfusionMatrix(interp, normalize: true), "row-normalised confusion matrix")).Append("</div>");
            var confused = interp.MostConfused();
            html.Append("<h2>Most confused</h2>");
            if (confused.Count == 0) html.Append("<p>No confusions: every image was classified correctly.</p>");
            else
            {
                html.Append("<table><tr><th>actual</th><th>predicted</th><th>count</th></tr>");
                foreach (var p in confused.Take(12)) html.Append($"<tr><td>{E(p.Actual)}</td><td>{E(p.Predicted)}</td><td>{p.Count}</td></tr>");
                html.Append("</table>");
                foreach (var p in confused.Take(2))
                    html.Append($"<p class=\"muted\">{E(p.Actual)} vs {E(p.Predicted)}, side by side (misclassified first):</p>")
                        .Append(Img(InterpretationPlots.ConfusedPair(interp, p.Actual, p.Predicted, 5), $"{p.Actual} vs {p.Predicted}"));
            }
            html.Append("</section>");
        }

        html.Append("<section id=\"losses\"><h2>Top losses</h2><p class=\"muted\">The images the model got most wrong or least sure about: a spot check for mislabelled or unusual data.</p>");
        html.Append(Img(InterpretationPlots.TopLosses(interp, c.TopLosses), "top losses"));
        if (c.GradCam) html.Append("<p class=\"muted\">Grad-CAM: where the predicted class's evidence lies (red = strongest).</p>").Append(Img(InterpretationPlots.TopLosses(interp, c.TopLosses, gradCam: true), "top losses with Grad-CAM"));
        html.Append("</section>");

        if (single)
        {
            var calibration = interp.Calibration();
            html.Append($"<section id=\"calibration\"><h2>Calibration</h2><p>Expected calibration error: <b>{F(calibration.Ece)}</b> (0 means confidences match accuracies).</p>");
            html.Append(Img(InterpretationPlots.Reliability(calibration), "reliability diagram")).Append("</section>");
        }

        html.Append("<section id=\"data\"><h2>Data</h2>");
        if (c.Audit is { } audit)
        {
            html.Append("<table><tr><th>class</th><th>train</th><th>valid</th><th>total</th></tr>");
            foreach (var row in audit.Counts) html.Append($"<tr><td>{E(row.Label)}</td><td>{row.Train}</td><td>{row.Valid}</td><td>{row.Total}</td></tr>");
            html.Append("</table>");
            foreach (var w in audit.Warnings) html.Append($"<p class=\"warn\">⚠ {E(w)}</p>");
            if (audit.Unreadable.Count > 0)
                html.Append("<p>Unreadable files (skipped):</p><ul>").Append(string.Concat(audit.Unreadable.Take(50).Select(u => $"<li>{E(u.Path)}: {E(u.Reason)}</li>"))).Append("</ul>");
            if (audit.Duplicates.Count > 0) html.Append($"<p>{audit.Duplicates.Count} group(s) of byte-identical files; {audit.Leaks.Count()} cross the train/valid split.</p>");
            if (audit.Warnings.Count == 0) html.Append("<p>Audit: no unreadable files, no duplicates, classes balanced.</p>");
        }
        else html.Append($"<p>{interp.Predictions.Count} labelled images evaluated.</p>");
        if (c.AugmentationExamples is { } aug) html.Append("<h2>Augmentation examples</h2>").Append(Img(aug, "augmented training batch"));
        html.Append("</section>");

        if (c.History is { Count: > 0 } || c.LrFindPng is not null || c.LossesPng is not null)
        {
            html.Append("<section id=\"training\"><h2>Training</h2>");
            if (c.History is { Count: > 0 } history)
            {
                var names = history.SelectMany(h => h.Metrics.Keys).Distinct().ToList();
                html.Append("<table><tr><th>epoch</th><th>phase</th><th>train_loss</th><th>valid_loss</th>").Append(string.Concat(names.Select(n => $"<th>{E(n)}</th>"))).Append("<th>time</th></tr>");
                foreach (var h in history)
                    html.Append($"<tr><td>{h.Epoch + 1}</td><td>{E(h.Phase.Name())}</td><td>{F(h.TrainLoss)}</td><td>{F(h.ValidLoss)}</td>")
                        .Append(string.Concat(names.Select(n => $"<td>{(h.Metrics.TryGetValue(n, out double v) ? F(v) : "")}</td>")))
                        .Append($"<td>{TimeSpan.FromSeconds(h.Seconds):mm\\:ss}</td></tr>");
                html.Append("</table>");
            }
            if (c.LossesPng is not null) html.Append(ImgBytes(c.LossesPng, "losses"));
            if (c.MetricsPng is not null) html.Append(ImgBytes(c.MetricsPng, "metrics"));
            if (c.LrFindPng is not null) html.Append("<h2>Learning-rate finder</h2>").Append(ImgBytes(c.LrFindPng, "LR finder"));
            html.Append("</section>");
        }
        html.Append($"<p class=\"muted\">Written by Lumen {typeof(HtmlReport).Assembly.GetName().Version?.ToString(3)} on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.</p></main></body></html>");
        return html.ToString();
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private static string F(double v) => double.IsNaN(v) ? "–" : v.ToString("0.0000", CultureInfo.InvariantCulture);

    private static string Img(RgbImage image, string alt) => ImgBytes(image.EncodePng(), alt);

    private static string ImgBytes(byte[] png, string alt) => $"<p><img alt=\"{E(alt)}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"></p>";
}
