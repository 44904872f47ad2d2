using System.Security.Cryptography;
using Lumen.Data;
using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Inference;

/// <summary>fastai's <c>learn.predict</c> and <c>learn.export</c> on a trained <see cref="Learner"/>.</summary>
public static class LearnerInference
{
    /// <summary>
    /// Writes the learner's model file (fastai's <c>learn.export</c>). For architectures with an ONNX graph
    /// the file also gets its int8 calibration, measured on up to <see cref="Int8Calibration.DefaultImages"/>
    /// training images (a few seconds), so int8 inference needs nothing but the file.
    /// </summary>
    public static ModelInfo Export(this Learner learner, string path)
    {
        var info = Describe(learner);
        Int8Calibration? calibration = null;
        // A detector's heads have no int8 form: it is exported in float32 only.
        if (OnnxExport.Supports(learner.Model) && learner.Model.Detector is null && learner.Data.Train.Items.Count > 0)
        {
            learner.Model.eval();
            var prepared = Int8Calibration.Spread(learner.Data.Train.Items).Select(i => info.Preprocessing.Prepare(i.Path)).ToList();
            using (no_grad())
                calibration = Int8Calibration.Measure(learner.Model, info, prepared, $"{prepared.Count} training images");
        }
        return ModelFile.Save(learner.Model, info.Classes, info.Task, info.Threshold, info.Preprocessing, info.Training, path, TrainingImages.Of(learner.Data), calibration);
    }

    /// <summary>What an export of <paramref name="learner"/> would record (the weights' checksum is left empty).</summary>
    internal static ModelInfo Describe(Learner learner)
    {
        var data = learner.Data;
        // The metrics of the epoch whose weights the model holds: the best one after save-best restored it.
        int? restored = learner.Callbacks.OfType<SaveBest>().Select(s => s.RestoredEpoch).FirstOrDefault(e => e is not null);
        var last = restored is { } epoch ? learner.History.First(h => h.Epoch == epoch) : learner.History.LastOrDefault();
        var metrics = last is null ? new Dictionary<string, double>() : new Dictionary<string, double>(last.Metrics);
        if (last is not null && !double.IsNaN(last.ValidLoss)) metrics["valid_loss"] = last.ValidLoss;  // NaN: trained without validation
        var training = new TrainingInfo(metrics, learner.History.Count, data.Options.Seed, DateTime.UtcNow,
            typeof(ModelFile).Assembly.GetName().Version?.ToString(3) ?? "0", Fingerprint(data), data.Train.Items.Count, data.Valid.Items.Count, learner.Loss.Name, data.Options.Augment);
        var preprocessing = data.Options.Preprocessing with { Normalization = learner.Model.Normalization };
        double threshold = data.Task.PerBox ? BoxThreshold(learner) : 0.5;
        return new ModelInfo(ModelFile.FormatName, ModelFile.CurrentVersion, learner.Model.Spec, data.Vocab.Classes.ToArray(), data.Task, threshold, preprocessing, training, "");
    }

    /// <summary>
    /// A detector's display threshold: the box score with the best F1 at IoU 0.5 on the validation images
    /// (a short training leaves background locations scoring 0.2 to 0.3, a long one far less, so no fixed
    /// value suits every model); <see cref="Models.BoxDecoding.Display"/>'s without validation images.
    /// </summary>
    private static double BoxThreshold(Learner learner)
    {
        double fallback = Models.BoxDecoding.Display.ScoreThreshold;
        if (learner.Data.Valid.Items.Count == 0) return fallback;
        using var predictions = learner.GetPredictions();
        var found = Models.BoxDecoding.Evaluation.Decode(predictions.Logits);
        return AveragePrecision.BestF1Threshold(found, Data.Boxes.BoxTargets.Read(predictions.Targets), learner.Data.Vocab.Count, fallback);
    }

    /// <summary>SHA-256 over the sorted "split|relative path|labels" lines: identifies the data a model was trained on.</summary>
    private static string Fingerprint(ImageDataLoaders data)
    {
        var lines = data.Train.Items.Select(i => $"train|{Path.GetRelativePath(data.Folder, i.Path)}|{i.LabelText}")
            .Concat(data.Valid.Items.Select(i => $"valid|{Path.GetRelativePath(data.Folder, i.Path)}|{i.LabelText}"))
            .OrderBy(l => l, StringComparer.Ordinal);
        return Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines)))).ToLowerInvariant();
    }

    /// <summary>Predicts one image file with the learner's model, through the same preprocessing as validation and an exported model.</summary>
    /// <exception cref="ImageDecodeException">The file is not a readable image.</exception>
    public static Prediction Predict(this Learner learner, string imagePath, int tta = 0)
    {
        using var predictor = Predictor.ForLearner(learner);
        return predictor.Predict(imagePath, tta);
    }
}
