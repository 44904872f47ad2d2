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
        if (OnnxExport.Supports(learner.Model) && learner.Data.Train.Items.Count > 0)
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
        return new ModelInfo(ModelFile.FormatName, ModelFile.CurrentVersion, learner.Model.Spec, data.Vocab.Classes.ToArray(), data.Task, 0.5, preprocessing, training, "");
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
