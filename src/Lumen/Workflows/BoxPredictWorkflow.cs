using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lumen.Files;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Models;

namespace Lumen.Workflows;

/// <summary>What to detect and what to write.</summary>
public sealed record BoxPredictRequest
{
    /// <summary>The image files.</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>A CSV with a row per box: <c>file,label,score,xmin,ymin,xmax,ymax</c>; an image without boxes gets one row with an empty label and score. Null writes none.</summary>
    public string? Output { get; init; }

    /// <summary>A COCO results JSON (<c>image_id</c> is the file's stem, <c>category_id</c> the class's index + 1, <c>bbox</c> x, y, w, h); null writes none.</summary>
    public string? Coco { get; init; }

    /// <summary>A folder for <c>&lt;stem&gt;.png</c> images with their boxes drawn; null writes none.</summary>
    public string? Draw { get; init; }

    /// <summary>Score threshold, NMS overlap and the most boxes per image; null for the model's own (<see cref="Predictor.BoxDecoding"/>).</summary>
    public BoxDecoding? Decoding { get; init; }
}

/// <summary>What a detection run produced.</summary>
/// <param name="Predicted">Every image with its boxes.</param>
/// <param name="Skipped">Unreadable images and why.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record BoxPredictResult(IReadOnlyList<BoxPrediction> Predicted, IReadOnlyList<(string Path, string Error)> Skipped, TimeSpan Elapsed);

/// <summary>
/// <c>lumen predict</c> for a detection model: each image's boxes in its own pixels, its drawing
/// written as it finishes (a file is complete or absent), the tables at the end.
/// </summary>
public static class BoxPredictWorkflow
{
    /// <summary>The CSV header of <see cref="BoxPredictRequest.Output"/>.</summary>
    public static IReadOnlyList<string> CsvColumns { get; } = new[] { "file", "label", "score", "xmin", "ymin", "xmax", "ymax" };

    /// <summary>Detects the request's images with <paramref name="predictor"/>.</summary>
    /// <exception cref="LumenException">The model does not find boxes, an option is out of range, or an output cannot be written.</exception>
    public static BoxPredictResult Run(Predictor predictor, BoxPredictRequest request, IProgressReporter? progress = null, CancellationToken cancellation = default)
    {
        progress ??= NullProgress.Instance;
        if (!predictor.Info.Task.PerBox) throw new LumenException($"this model is a {predictor.Info.Task.Name} model; boxes come from a detection model");
        var decoding = request.Decoding ?? predictor.BoxDecoding;
        decoding.Validate();
        if (request.Draw is { } folder) Directory.CreateDirectory(folder);
        var predicted = new List<BoxPrediction>();
        var skipped = new List<(string, string)>();
        var clock = Stopwatch.StartNew();
        var classes = predictor.Classes;
        using (var task = progress.Start("detecting", request.Files.Count))
        {
            foreach (string path in request.Files)
            {
                if (cancellation.IsCancellationRequested) break;
                try
                {
                    // Drawing needs the full-size image: decode it once, for the prediction too.
                    var (prediction, image) = request.Draw is null
                        ? (predictor.PredictBoxes(path, decoding), null)
                        : predictor.PredictBoxes(ImageDecoder.ReadBytes(path), path, decoding);
                    if (request.Draw is { } drawn)
                        Draw(image!, prediction, classes).SavePng(Path.Combine(drawn, Path.GetFileNameWithoutExtension(path) + ".png"));
                    predicted.Add(prediction);
                }
                catch (ImageDecodeException e)
                {
                    skipped.Add((path, e.Message));
                }
                task.Advance();
            }
        }
        if (request.Output is { } output) AtomicFile.WriteAllText(output, CsvText(predicted));
        if (request.Coco is { } coco) AtomicFile.WriteAllText(coco, CocoResults(predicted, classes));
        return new BoxPredictResult(predicted, skipped, clock.Elapsed);
    }

    /// <summary><paramref name="image"/> with the prediction's boxes, captioned with class (when several) and score.</summary>
    public static RgbImage Draw(RgbImage image, BoxPrediction prediction, IReadOnlyList<string> classes)
    {
        var vocab = Data.Vocabulary.InOrder(classes);
        // The best box drawn last, on top.
        return BoxDrawing.Draw(image, prediction.Boxes.Reverse().Select(b => new DrawnBox(b.XMin, b.YMin, b.XMax, b.YMax,
            (classes.Count > 1 ? b.Label + " " : "") + b.Score.ToString("0.00", CultureInfo.InvariantCulture), vocab.IndexOf(b.Label))).ToList());
    }

    /// <summary>The predictions as the <see cref="BoxPredictRequest.Output"/> CSV.</summary>
    public static string CsvText(IEnumerable<BoxPrediction> predictions)
    {
        static string F(float v) => v.ToString("0.##", CultureInfo.InvariantCulture);
        var lines = new List<string> { Csv.Row(CsvColumns) };
        foreach (var p in predictions)
        {
            if (p.Boxes.Count == 0) lines.Add(Csv.Row(new[] { p.Path, "", "", "", "", "", "" }));
            foreach (var b in p.Boxes)
                lines.Add(Csv.Row(new[] { p.Path, b.Label, b.Score.ToString("0.####", CultureInfo.InvariantCulture), F(b.XMin), F(b.YMin), F(b.XMax), F(b.YMax) }));
        }
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>The predictions as COCO results: one object per box.</summary>
    public static string CocoResults(IEnumerable<BoxPrediction> predictions, IReadOnlyList<string> classes)
    {
        var vocab = Data.Vocabulary.InOrder(classes);
        return JsonSerializer.Serialize(predictions.SelectMany(p => p.Boxes.Select(b => new CocoResult(Path.GetFileNameWithoutExtension(p.Path), vocab.IndexOf(b.Label) + 1,
            new[] { Round(b.XMin), Round(b.YMin), Round(b.XMax - b.XMin), Round(b.YMax - b.YMin) }, Math.Round(b.Score, 5)))));
    }

    private static double Round(float v) => Math.Round(v, 2);

    private sealed record CocoResult(
        [property: System.Text.Json.Serialization.JsonPropertyName("image_id")] string ImageId,
        [property: System.Text.Json.Serialization.JsonPropertyName("category_id")] int CategoryId,
        [property: System.Text.Json.Serialization.JsonPropertyName("bbox")] double[] Bbox,
        [property: System.Text.Json.Serialization.JsonPropertyName("score")] double Score);
}
