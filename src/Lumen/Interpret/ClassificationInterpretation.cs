using Lumen.Data;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Tensors;
using Lumen.Training;
using TorchSharp;
using static TorchSharp.torch;
using DataLoader = Lumen.Data.DataLoader;

namespace Lumen.Interpret;

/// <summary>An item with one of the largest losses.</summary>
/// <param name="Index">Position in <see cref="ClassificationInterpretation.Predictions"/>.</param>
/// <param name="Item">The image and its labels.</param>
/// <param name="Predicted">Predicted class (or labels).</param>
/// <param name="Actual">True class (or labels).</param>
/// <param name="Loss">The item's loss.</param>
/// <param name="ProbabilityOfActual">Probability given to the true class (single-label).</param>
public sealed record TopLoss(int Index, LabelledItem Item, string Predicted, string Actual, float Loss, float ProbabilityOfActual);

/// <summary>A pair of classes mixed up, with how often (actual → predicted).</summary>
public sealed record ConfusedPair(string Actual, string Predicted, int Count);

/// <summary>
/// fastai's <c>ClassificationInterpretation</c>: predictions, probabilities and per-item losses
/// computed once, then the confusion matrix, most-confused pairs, top losses (with Grad-CAM), the
/// classification report, calibration and TTA metrics.
/// </summary>
public sealed class ClassificationInterpretation : IDisposable
{
    private ClassificationInterpretation(Predictions predictions, IReadOnlyList<string> classes, VisionModel model, Preprocessing preprocessing,
        Dictionary<string, double> metrics, Dictionary<string, double>? ttaMetrics, int tta)
    {
        Predictions = predictions;
        Classes = classes;
        Model = model;
        Preprocessing = preprocessing;
        Metrics = metrics;
        TtaMetrics = ttaMetrics;
        TtaPasses = tta;
    }

    /// <summary>Predictions on the interpreted items (plain, without TTA).</summary>
    public Predictions Predictions { get; }

    /// <summary>Class names.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>The model (for Grad-CAM).</summary>
    public VisionModel Model { get; }

    /// <summary>How images became the model's input (for display and Grad-CAM).</summary>
    public Preprocessing Preprocessing { get; }

    /// <summary>Metrics without TTA (plus loss).</summary>
    public IReadOnlyDictionary<string, double> Metrics { get; }

    /// <summary>Metrics with TTA, when it was requested.</summary>
    public IReadOnlyDictionary<string, double>? TtaMetrics { get; }

    /// <summary>TTA passes used for <see cref="TtaMetrics"/>.</summary>
    public int TtaPasses { get; }

    /// <summary>From a learner, on its validation set (or another loader).</summary>
    public static ClassificationInterpretation FromLearner(Learner learner, DataLoader? loader = null, int tta = 0)
    {
        loader ??= learner.Data.Valid;
        var predictions = learner.GetPredictions(loader);
        var metrics = Evaluation.Metrics(predictions, learner.Data.Vocab.Count);
        Dictionary<string, double>? ttaMetrics = null;
        if (tta > 0)
        {
            // The same path as an exported model's TTA: the learner's model behind a Predictor.
            using var predictor = Predictor.ForLearner(learner);
            var (withTta, _) = Evaluation.Predict(predictor, predictions.Items, tta);
            using (withTta) ttaMetrics = Evaluation.Metrics(withTta, learner.Data.Vocab.Count);
        }
        return new ClassificationInterpretation(predictions, learner.Data.Vocab.Classes, learner.Model, learner.Data.Options.Preprocessing, metrics, ttaMetrics, tta);
    }

    /// <summary>From an exported model and labelled items (e.g. a held-out folder); unreadable files are skipped.</summary>
    public static ClassificationInterpretation FromModel(Predictor predictor, IReadOnlyList<LabelledItem> items, int tta = 0, IProgressReporter? progress = null)
    {
        var (predictions, _) = Evaluation.Predict(predictor, items, 0, progress: progress);
        var metrics = Evaluation.Metrics(predictions, predictor.Classes.Count);
        Dictionary<string, double>? ttaMetrics = null;
        if (tta > 0)
        {
            var (withTta, _) = Evaluation.Predict(predictor, predictions.Items, tta, progress: progress);
            using (withTta) ttaMetrics = Evaluation.Metrics(withTta, predictor.Classes.Count);
        }
        return new ClassificationInterpretation(predictions, predictor.Classes, predictor.Model, predictor.Info.Preprocessing, metrics, ttaMetrics, tta);
    }

    /// <summary>From predictions computed elsewhere (tests, custom pipelines).</summary>
    internal static ClassificationInterpretation FromPredictions(Predictions predictions, IReadOnlyList<string> classes, VisionModel model, Preprocessing preprocessing) =>
        new(predictions, classes, model, preprocessing, Evaluation.Metrics(predictions, classes.Count), null, 0);

    /// <summary>Predicted class index of each item (single-label).</summary>
    public long[] PredictedIndices => Predictions.Logits.argmax(1).data<long>().ToArray();

    /// <summary>Counts [actual, predicted] (single-label).</summary>
    public long[,] ConfusionMatrix()
    {
        RequireSingleLabel("a confusion matrix");
        return Training.Metrics.Confusion(Predictions.Logits.argmax(1), Predictions.Targets, Classes.Count);
    }

    /// <summary>(actual, predicted, count) off the diagonal with count ≥ <paramref name="minCount"/>, most frequent first (fastai's most_confused).</summary>
    public IReadOnlyList<ConfusedPair> MostConfused(int minCount = 1)
    {
        var m = ConfusionMatrix();
        var pairs = new List<ConfusedPair>();
        for (int a = 0; a < Classes.Count; a++)
            for (int p = 0; p < Classes.Count; p++)
                if (a != p && m[a, p] >= minCount) pairs.Add(new ConfusedPair(Classes[a], Classes[p], (int)m[a, p]));
        return pairs.OrderByDescending(p => p.Count).ThenBy(p => p.Actual, StringComparer.Ordinal).ThenBy(p => p.Predicted, StringComparer.Ordinal).ToList();
    }

    /// <summary>The <paramref name="k"/> items with the largest loss, largest first.</summary>
    public IReadOnlyList<TopLoss> TopLosses(int k = 16)
    {
        float[] losses = Predictions.Losses.data<float>().ToArray();
        float[] probs = Predictions.Probabilities.contiguous().data<float>().ToArray();
        int c = Classes.Count;
        return Enumerable.Range(0, losses.Length).OrderByDescending(i => losses[i]).ThenBy(i => i).Take(k).Select(i =>
        {
            var item = Predictions.Items[i];
            if (MultiLabel)
            {
                var predicted = Enumerable.Range(0, c).Where(j => probs[i * c + j] > 0.5).Select(j => Classes[j]);
                return new TopLoss(i, item, string.Join(";", predicted), item.LabelText, losses[i], float.NaN);
            }
            int actual = Array.IndexOf(Classes.ToArray(), item.Labels[0]);
            int best = Enumerable.Range(0, c).MaxBy(j => probs[i * c + j]);
            return new TopLoss(i, item, Classes[best], item.Labels[0], losses[i], probs[i * c + actual]);
        }).ToList();
    }

    /// <summary>Per-class precision/recall/F1/support with averages, accuracy and MCC.</summary>
    public ClassificationReport Report()
    {
        if (!MultiLabel) return ClassificationReport.FromConfusion(ConfusionMatrix(), Classes);
        using var half = 0.5.ToScalar();
        var predicted = Predictions.Probabilities.gt(half);
        var truth = Predictions.Targets.gt(half);
        long[] tp = (predicted & truth).sum(0).data<long>().ToArray();
        long[] fp = (predicted & ~truth).sum(0).data<long>().ToArray();
        long[] fn = (~predicted & truth).sum(0).data<long>().ToArray();
        return ClassificationReport.FromMultiLabel(Classes, tp, fp, fn, Metrics.TryGetValue("accuracy_multi", out double a) ? a : double.NaN);
    }

    /// <summary>Reliability bins and expected calibration error of the top-class confidence (single-label).</summary>
    public Calibration Calibration(int bins = 10)
    {
        RequireSingleLabel("calibration");
        var top = Predictions.Probabilities.max(1);
        double[] confidence = top.values.to(ScalarType.Float64).data<double>().ToArray();
        long[] predicted = top.indexes.data<long>().ToArray();
        long[] actual = Predictions.Targets.data<long>().ToArray();
        return Interpret.Calibration.Compute(confidence, predicted.Select((p, i) => p == actual[i]).ToList(), bins);
    }

    /// <summary>The image of an item as the model saw it (deterministic resize/crop).</summary>
    public RgbImage DisplayImage(LabelledItem item) => Preprocessing.Prepare(item.Path);

    /// <summary>Grad-CAM overlays for items (the predicted class, or <paramref name="classIndex"/>).</summary>
    public IReadOnlyList<RgbImage> GradCamImages(IReadOnlyList<LabelledItem> items, int? classIndex = null)
    {
        var images = items.Select(DisplayImage).ToList();
        using var scope = NewDisposeScope();
        var input = Preprocessing.Batch(images, Model.parameters().First().device);
        var heat = GradCam.Compute(Model, input, classIndex is { } c ? Enumerable.Repeat(c, items.Count).ToList() : null);
        return images.Select((img, i) => GradCam.Overlay(img, heat[i])).ToList();
    }

    /// <summary>
    /// True for the multi-label task: its report is per label, and the confusion matrix, confused pairs
    /// and calibration (which need one actual class per image) do not apply.
    /// </summary>
    public bool MultiLabel => Predictions.Task == Tasks.ImageTask.MultiLabel;

    private void RequireSingleLabel(string what)
    {
        if (MultiLabel) throw new LumenException($"{what} is defined for single-label models; this one is multi-label (see the classification report)");
    }

    /// <inheritdoc />
    public void Dispose() => Predictions.Dispose();
}
