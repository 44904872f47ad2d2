using Lumen.Imaging;
using Lumen.Data;
using Lumen.Tensors;
using Lumen.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Inference;

/// <summary>Which of a labelled folder's images to score.</summary>
public enum ScoreSplit
{
    /// <summary>Every image (metrics are optimistic when some were trained on).</summary>
    All,

    /// <summary>Only the images the model was validated on (a training folder's held-out 20%).</summary>
    Valid,

    /// <summary>Every image the model was not trained on.</summary>
    Unseen,
}

/// <summary>The images chosen for scoring, and how the folder overlaps the model's training data.</summary>
/// <param name="Items">The images to score.</param>
/// <param name="Listed">Images found in the folder.</param>
/// <param name="Trained">Of those, images the model was trained on (by content); null when the model file does not record it.</param>
public sealed record ScoredImages(IReadOnlyList<LabelledItem> Items, int Listed, int? Trained)
{
    /// <summary>A warning when scored images were trained on (their metrics flatter the model), else null.</summary>
    public string? TrainedOnWarning(ScoreSplit split) => split == ScoreSplit.All && Trained > 0
        ? $"{Trained} of the {Listed} images were used to train this model, so these metrics are optimistic; score only the images it was validated on, or every image it has not seen"
        : null;
}

/// <summary>
/// Runs an exported model over labelled images (a held-out folder): predictions, per-item losses and
/// metrics, computed with the model's own preprocessing. Unreadable files are reported and skipped.
/// </summary>
public static class Evaluation
{
    /// <summary>
    /// Labelled items of a folder (class sub-folders, or a CSV) whose labels the model knows; for a
    /// segmentation model, images with masks (<paramref name="masks"/>, or the folder's <c>images/</c> and
    /// <c>masks/</c>) read with the model's classes (binary masks for two classes, else the data's codes file);
    /// for a detection model, the images with <paramref name="boxes"/> (the folder's <c>images/</c> when it has one).
    /// </summary>
    /// <exception cref="DataException">The folder holds classes the model was not trained on, or no images.</exception>
    public static IReadOnlyList<LabelledItem> LabelledItems(Predictor predictor, string folder, string? csv = null, string? masks = null, string? codes = null,
        string? boxes = null)
    {
        if (predictor.Info.Task.PerPixel) return MaskedItems(predictor, folder, masks, codes);
        if (predictor.Info.Task.PerBox) return BoxedItems(predictor, folder, boxes, codes);
        var listing = csv is null ? FolderSource.Scan(folder) : CsvSource.Read(csv, folder, predictor.Info.Task);
        if (listing.Items.Count == 0) throw new DataException($"no labelled images found in '{Path.GetFullPath(folder)}'");
        var known = predictor.Classes.ToHashSet(StringComparer.Ordinal);
        var unknown = listing.Items.SelectMany(i => i.Labels).Where(l => !known.Contains(l)).Distinct().OrderBy(l => l, StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw new DataException($"'{folder}' has classes the model does not know: {string.Join(", ", unknown)}; the model's classes are {string.Join(", ", predictor.Classes)}");
        return listing.Items;
    }

    private static IReadOnlyList<LabelledItem> BoxedItems(Predictor predictor, string folder, string? boxes, string? codes)
    {
        if (boxes is null) throw new OptionException(OptionName.Boxes, "is needed to score a detection model (the true boxes of the images)");
        string images = Data.Masks.SegmentationSource.ImageFolderNames.Select(n => Path.Combine(folder, n)).FirstOrDefault(Directory.Exists) ?? folder;
        var masks = Directory.Exists(boxes) ? Data.Masks.SegmentationSource.FindEncoding(folder, boxes, codes) : null;
        var items = Data.Boxes.DetectionSource.Scan(images, boxes, masks).Items;
        var known = predictor.Classes.ToHashSet(StringComparer.Ordinal);
        var unknown = items.SelectMany(i => i.Labels).Where(l => !known.Contains(l)).Distinct().Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw new DataException($"the boxes in '{boxes}' have classes the model does not know: {string.Join(", ", unknown)}; the model's are {string.Join(", ", predictor.Classes)}");
        return items;
    }

    /// <summary>
    /// Finds every item's boxes at its own size (<see cref="Predictor.PredictBoxes(string, Models.BoxDecoding?)"/> with
    /// <see cref="Models.BoxDecoding.Evaluation"/>, every box that can count towards AP), in item order, and the files that could not be read.
    /// </summary>
    public static (IReadOnlyList<(LabelledItem Item, BoxPrediction Prediction)> Scored, IReadOnlyList<UnreadableFile> Skipped) Detect(Predictor predictor,
        IReadOnlyList<LabelledItem> items, IProgressReporter? progress = null) =>
        Each(items, "Detecting", progress, item => predictor.PredictBoxes(item.Path, Models.BoxDecoding.Evaluation));

    /// <summary>
    /// <paramref name="score"/> of every item, in item order, with progress; unreadable images are skipped and
    /// listed, and none readable is an error.
    /// </summary>
    private static (IReadOnlyList<(LabelledItem Item, T Result)> Scored, IReadOnlyList<UnreadableFile> Skipped) Each<T>(IReadOnlyList<LabelledItem> items,
        string what, IProgressReporter? progress, Func<LabelledItem, T> score)
    {
        progress ??= NullProgress.Instance;
        var scored = new List<(LabelledItem, T)>();
        var skipped = new List<UnreadableFile>();
        using (var task = progress.Start(what, items.Count))
        {
            foreach (var item in items)
            {
                try
                {
                    scored.Add((item, score(item)));
                }
                catch (ImageDecodeException e)
                {
                    skipped.Add(new UnreadableFile(item.Path, e.Message));
                }
                task.Advance();
            }
        }
        if (scored.Count == 0) throw new DataException($"none of the {items.Count} images could be read; first problem: {skipped[0].Path}: {skipped[0].Reason}");
        return (scored, skipped);
    }

    /// <summary>COCO's figures of detections at the images' own size against the items' boxes (see <see cref="AveragePrecision"/>).</summary>
    public static ApResult DetectionFigures(IReadOnlyList<(LabelledItem Item, BoxPrediction Prediction)> scored, IReadOnlyList<string> classes)
    {
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var detections = scored.Select(s => (IReadOnlyList<Models.DetectedBox>)s.Prediction.Boxes
            .Select(b => new Models.DetectedBox(index[b.Label], b.Score, b.XMin, b.YMin, b.XMax, b.YMax)).ToList()).ToList();
        var truths = scored.Select(s => (IReadOnlyList<Data.Boxes.TrueBox>)s.Item.Boxes!.Boxes
            .Select(b => new Data.Boxes.TrueBox(index[b.Label], b.XMin, b.YMin, b.XMax, b.YMax)).ToList()).ToList();
        return AveragePrecision.Compute(detections, truths, classes.Count);
    }

    /// <summary>The detection metrics, with the names validation uses.</summary>
    public static Dictionary<string, double> Metrics(ApResult figures) => new()
    {
        [Training.Metrics.Ap50.Name] = figures.Ap50,
        [Training.Metrics.Ap.Name] = figures.Ap,
        [Training.Metrics.Recall50.Name] = figures.Recall50,
    };

    private static IReadOnlyList<LabelledItem> MaskedItems(Predictor predictor, string folder, string? masks, string? codes)
    {
        var layout = Data.Masks.SegmentationSource.RecogniseLayout(folder);
        string images = layout?.Images ?? folder;
        masks ??= layout?.Masks ?? throw new OptionException(OptionName.Masks, $"is needed: '{folder}' has no images/ and masks/ folders");
        var encoding = Data.Masks.SegmentationSource.FindEncoding(folder, masks, codes);
        if (!encoding.Classes.SequenceEqual(predictor.Classes, StringComparer.Ordinal))
        {
            if (encoding.Kind != Data.Masks.MaskKind.Binary || predictor.Classes.Count != 2)
                throw new DataException($"the masks in '{masks}' name the classes {string.Join(", ", encoding.Classes)}, the model's are {string.Join(", ", predictor.Classes)}");
            encoding = Data.Masks.MaskEncoding.Binary(predictor.Classes[0], predictor.Classes[1]);
        }
        return Data.Masks.SegmentationSource.Scan(images, masks, encoding).Items;
    }

    /// <summary>
    /// Segments every item at its own size (<see cref="Predictor.PredictMask(string, int)"/>) and counts its pixels
    /// against its mask: the per-image counts every segmentation metric is a formula of, in item order,
    /// and the files that could not be read.
    /// </summary>
    public static (IReadOnlyList<(LabelledItem Item, PixelOverlap Overlap)> Scored, IReadOnlyList<UnreadableFile> Skipped) Segment(Predictor predictor,
        IReadOnlyList<LabelledItem> items, int tta = 0, IProgressReporter? progress = null) =>
        Each(items, "Segmenting", progress, item => PixelOverlap.Of(predictor.PredictMask(item.Path, tta).Mask, item.Mask!.Read(), predictor.Classes.Count));

    /// <summary>The segmentation metrics, with the names validation uses, of per-image counts.</summary>
    public static Dictionary<string, double> Metrics(IReadOnlyList<PixelOverlap> images) => new()
    {
        [Training.Metrics.DicePerImage.Name] = PixelOverlap.DicePerImage(images),
        [Training.Metrics.Dice.Name] = PixelOverlap.Dice(images),
        [Training.Metrics.Jaccard.Name] = PixelOverlap.Jaccard(images),
        [Training.Metrics.ForegroundAccuracy.Name] = PixelOverlap.ForegroundAccuracy(images),
    };

    /// <summary>
    /// Chooses the images to score according to <paramref name="split"/>, comparing their content with
    /// the images the model file records as trained and validated on.
    /// </summary>
    /// <exception cref="OptionException">(Split) A split other than all was asked of a model that does not
    /// record its images, or no image is left.</exception>
    public static ScoredImages SelectSplit(Predictor predictor, IReadOnlyList<LabelledItem> items, ScoreSplit split)
    {
        string name = split.ToString().ToLowerInvariant();
        if (predictor.Images is not { } images)
        {
            if (split != ScoreSplit.All)
                throw new OptionException(OptionName.Split, $"{name} needs to know which images the model was trained on, and this model file does not record it (it was written by an older Lumen); retrain, or score all images");
            return new ScoredImages(items, items.Count, null);
        }
        var hashes = new string?[items.Count];
        Parallel.For(0, items.Count, i =>
        {
            // An unreadable file is scored (and then reported as skipped) rather than dropped here.
            try { hashes[i] = ContentHash.OfFile(items[i].Path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { hashes[i] = null; }
        });
        bool InTrain(int i) => hashes[i] is { } h && images.Train.Contains(h);
        bool InValid(int i) => hashes[i] is { } h && images.Valid.Contains(h);
        var indices = Enumerable.Range(0, items.Count);
        var chosen = split switch
        {
            ScoreSplit.Valid => indices.Where(InValid),
            ScoreSplit.Unseen => indices.Where(i => !InTrain(i)),
            _ => indices,
        };
        var selected = chosen.Select(i => items[i]).ToList();
        if (selected.Count == 0)
            throw new OptionException(OptionName.Split, split == ScoreSplit.Valid
                ? $"{name} keeps the images the model was validated on, and none of these {items.Count} is one; is this the folder it was trained from?"
                : $"{name} keeps the images the model was not trained on, and all {items.Count} were");
        return new ScoredImages(selected, items.Count, indices.Count(InTrain));
    }

    /// <summary>Predicts every item in batches; returns predictions (with losses) and the files that could not be read.</summary>
    public static (Predictions Predictions, IReadOnlyList<UnreadableFile> Skipped) Predict(Predictor predictor, IReadOnlyList<LabelledItem> items,
        int tta = 0, int batchSize = 32, IProgressReporter? progress = null)
    {
        progress ??= NullProgress.Instance;
        var vocab = new Vocabulary(predictor.Classes);
        var probabilities = new List<float>();
        var kept = new List<LabelledItem>();
        var skipped = new List<UnreadableFile>();
        using (var task = progress.Start("Predicting", items.Count))
        {
            var rows = BulkPrediction.Run(predictor, items.Select(i => i.Path).ToList(), new BulkPredictionOptions { BatchSize = batchSize, Tta = tta });
            int index = 0;
            foreach (var row in rows)
            {
                var item = items[index++];
                if (row.Prediction is null) skipped.Add(new UnreadableFile(item.Path, row.Error!));
                else
                {
                    probabilities.AddRange(row.Prediction.Probabilities.Select(c => c.Probability));
                    kept.Add(item);
                }
                task.Advance();
            }
        }
        if (kept.Count == 0) throw new DataException($"none of the {items.Count} images could be read; first problem: {skipped[0].Path}: {skipped[0].Reason}");
        var probs = tensor(probabilities.ToArray(), new long[] { kept.Count, predictor.Classes.Count });
        var imageTask = predictor.Info.Task;
        var targets = imageTask.Targets(kept, vocab, CPU);
        // Logits are recovered from probabilities so metrics and losses share one code path with training.
        var logits = imageTask.Logits(probs);
        probs.Dispose();
        Tensor losses;
        using (no_grad()) losses = imageTask.EvaluationLoss.PerItem(logits, targets);
        return (new Predictions(logits, targets, losses, kept, imageTask), skipped);
    }

    /// <summary>Metric values by name for predictions (the defaults for the task, plus valid_loss).</summary>
    public static Dictionary<string, double> Metrics(Predictions predictions, int classes)
    {
        var metrics = predictions.Task.DefaultMetrics(classes)
            .ToDictionary(m => m.Name, m => m.Compute(predictions.Logits, predictions.Targets));
        metrics["loss"] = predictions.Losses.mean().item<float>();
        return metrics;
    }
}
