using System.Diagnostics;
using System.Globalization;
using Lumen.Files;
using Lumen.Imaging;
using Lumen.Inference;

namespace Lumen.Workflows;

/// <summary>What to segment and what to write.</summary>
public sealed record MaskPredictRequest
{
    /// <summary>The image files to segment.</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>A folder for <c>&lt;stem&gt;.png</c> masks of each image's size (0/255 for two classes, class indices otherwise); null writes none.</summary>
    public string? SaveMasks { get; init; }

    /// <summary>A folder for <c>&lt;stem&gt;.png</c> images with their masks drawn over them; null writes none.</summary>
    public string? Draw { get; init; }

    /// <summary>A CSV of each image's class area fractions (file, then one column per class); null writes none.</summary>
    public string? Output { get; init; }

    /// <summary>Test-time augmentation: above 0, probabilities are averaged with the mirrored image's.</summary>
    public int Tta { get; init; }
}

/// <summary>What a segmentation run produced.</summary>
/// <param name="Predicted">Every segmented image with its classes' area fractions.</param>
/// <param name="Skipped">Unreadable images and why.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record MaskPredictResult(IReadOnlyList<(string Path, IReadOnlyList<double> AreaFractions)> Predicted,
    IReadOnlyList<(string Path, string Error)> Skipped, TimeSpan Elapsed);

/// <summary>
/// <c>lumen predict</c> for a segmentation model: each image segmented at its own size, its mask
/// and drawing written as it finishes (a file is complete or absent), the area table at the end.
/// </summary>
public static class MaskPredictWorkflow
{
    /// <summary>Segments the request's images with <paramref name="predictor"/>.</summary>
    /// <exception cref="LumenException">The model is not a segmentation model, or an output folder cannot be made.</exception>
    public static MaskPredictResult Run(Predictor predictor, MaskPredictRequest request, IProgressReporter? progress = null, CancellationToken cancellation = default)
    {
        progress ??= NullProgress.Instance;
        if (!predictor.Info.Task.PerPixel) throw new LumenException("this model classifies whole images; masks come from a segmentation model");
        foreach (string? folder in new[] { request.SaveMasks, request.Draw })
            if (folder is not null) Directory.CreateDirectory(folder);
        var classes = predictor.Classes;
        var predicted = new List<(string, IReadOnlyList<double>)>();
        var skipped = new List<(string, string)>();
        var clock = Stopwatch.StartNew();
        using (var task = progress.Start("segmenting", request.Files.Count))
        {
            foreach (string path in request.Files)
            {
                if (cancellation.IsCancellationRequested) break;
                try
                {
                    // Drawing needs the full-size image: decode it once, for the prediction too.
                    var (prediction, image) = request.Draw is null
                        ? (predictor.PredictMask(path, request.Tta), null)
                        : predictor.PredictMask(ImageDecoder.ReadBytes(path), path, tta: request.Tta);
                    string stem = Path.GetFileNameWithoutExtension(path) + ".png";
                    if (request.SaveMasks is { } masks) AtomicFile.WriteAllBytes(Path.Combine(masks, stem), prediction.Mask.EncodePng(binary: classes.Count == 2));
                    if (request.Draw is { } drawn) prediction.Mask.Overlay(image!).SavePng(Path.Combine(drawn, stem));
                    predicted.Add((path, prediction.AreaFractions));
                }
                catch (ImageDecodeException e)
                {
                    skipped.Add((path, e.Message));
                }
                task.Advance();
            }
        }
        if (request.Output is { } output)
        {
            var lines = new List<string> { Csv.Row(new[] { "file" }.Concat(classes.Select(c => c + "_fraction"))) };
            lines.AddRange(predicted.Select(p => Csv.Row(new[] { p.Item1 }.Concat(p.Item2.Select(f => f.ToString("0.######", CultureInfo.InvariantCulture))))));
            AtomicFile.WriteAllText(output, string.Join("\n", lines) + "\n");
        }
        return new MaskPredictResult(predicted, skipped, clock.Elapsed);
    }
}
