using Lumen.Imaging;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lumen.Data;
using Lumen.Models;
using Lumen.Tasks;
using Lumen.Tensors;
using Lumen.Training;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using Lumen.Files;

namespace Lumen.Inference;

/// <summary>What a model file records besides the weights.</summary>
/// <param name="Format">Always "lumen-model".</param>
/// <param name="Version">File format version.</param>
/// <param name="Spec">Architecture, head, classes, weights origin.</param>
/// <param name="Classes">Class names in output order.</param>
/// <param name="Task">What the outputs mean (see <see cref="ImageTask"/>), by name.</param>
/// <param name="Threshold">The decision threshold: a multi-label model's per class, a detector's box score (chosen on its validation images).</param>
/// <param name="Preprocessing">Image preparation.</param>
/// <param name="Training">How the model was trained.</param>
/// <param name="WeightsSha256">SHA-256 of weights.safetensors (integrity check).</param>
public sealed record ModelInfo(string Format, int Version, ModelSpec Spec, IReadOnlyList<string> Classes, ImageTask Task, double Threshold,
    Preprocessing Preprocessing, TrainingInfo Training, string WeightsSha256);

/// <summary>Training metadata kept in the model file.</summary>
/// <param name="Metrics">Final validation metrics (and valid_loss).</param>
/// <param name="Epochs">Epochs trained.</param>
/// <param name="Seed">Run seed.</param>
/// <param name="CreatedUtc">When the file was written.</param>
/// <param name="LumenVersion">Lumen version that wrote it.</param>
/// <param name="DataFingerprint">SHA-256 over the sorted training/validation file names and labels.</param>
/// <param name="TrainItems">Training images.</param>
/// <param name="ValidItems">Validation images.</param>
/// <param name="Loss">Loss function.</param>
/// <param name="Augment">The training augmentation (test-time augmentation reuses it).</param>
public sealed record TrainingInfo(IReadOnlyDictionary<string, double> Metrics, int Epochs, int Seed, DateTime CreatedUtc, string LumenVersion,
    string DataFingerprint, int TrainItems, int ValidItems, string Loss, Lumen.Augment.AugmentOptions Augment);

/// <summary>
/// Which images a model was trained and validated on, by <see cref="ContentHash"/> (so copies under
/// other names are recognised). Kept in the model file's <c>images.json</c>.
/// </summary>
/// <param name="Train">Hashes of the training images.</param>
/// <param name="Valid">Hashes of the validation images.</param>
public sealed record TrainingImages(IReadOnlySet<string> Train, IReadOnlySet<string> Valid)
{
    /// <summary>The record of <paramref name="data"/>'s split.</summary>
    public static TrainingImages Of(ImageDataLoaders data) => new(
        data.Train.Items.Select(i => data.ContentHashes[i.Path]).ToHashSet(StringComparer.Ordinal),
        data.Valid.Items.Select(i => data.ContentHashes[i.Path]).ToHashSet(StringComparer.Ordinal));
}

/// <summary>A model loaded from a file: the network and everything needed to use it.</summary>
/// <param name="model">The network.</param>
/// <param name="info">The file's metadata.</param>
/// <param name="images">The images it was trained on; null for files written before Lumen recorded them.</param>
/// <param name="ownsModel">False when the network belongs to someone else (a learner) and must outlive this.</param>
/// <param name="calibration">The int8 calibration the file holds, if any.</param>
public sealed class LoadedModel(VisionModel model, ModelInfo info, TrainingImages? images = null, bool ownsModel = true, Int8Calibration? calibration = null) : IDisposable
{
    /// <summary>The activation ranges int8 inference needs (null when the file has none: <see cref="ModelFile.AddCalibration"/>).</summary>
    public Int8Calibration? Calibration { get; } = calibration;

    /// <summary>Which images the model was trained and validated on (null when the file does not say).</summary>
    public TrainingImages? Images { get; } = images;

    /// <summary>The network (eval mode).</summary>
    public VisionModel Model { get; } = model;

    /// <summary>The file's metadata.</summary>
    public ModelInfo Info { get; } = info;

    /// <inheritdoc />
    public void Dispose()
    {
        if (ownsModel) Model.Dispose();
    }
}

/// <summary>
/// Lumen's model file (<c>.lumen</c>): an archive (<see cref="ArchiveReader"/>) of <c>lumen.json</c>
/// (format, architecture, head, classes, task, preprocessing, training metadata, weights checksum),
/// <c>weights.safetensors</c>, and optionally the training images' hashes and the int8 calibration.
/// Written atomically; loading checks the format, version, metadata and checksum before anything is
/// built and fails with a message naming the file. Ensembles of model files are <see cref="EnsembleFile"/>s.
/// </summary>
public static class ModelFile
{
    /// <summary>The format name in lumen.json.</summary>
    public const string FormatName = "lumen-model";

    /// <summary>
    /// The version this Lumen writes and the newest it reads. Version 2 names the task ("Task":
    /// "multi-label") where version 1 had a flag ("MultiLabel": true); a Lumen that reads only version 1
    /// refuses a version 2 file instead of mistaking a multi-label model for a single-label one.
    /// </summary>
    public const int CurrentVersion = 2;

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    internal static readonly JsonEntry<ModelInfo> InfoEntry = new("lumen.json");
    internal static readonly BlobEntry WeightsEntry = new("weights.safetensors");
    private static readonly JsonEntry<ImagesDocument> ImagesEntry = new("images.json");
    private static readonly JsonEntry<Int8Calibration> CalibrationEntry = new("int8-calibration.json");

    /// <summary>How version 1 files said which task they hold.</summary>
    private static readonly JsonEntry<VersionOneTask> VersionOneEntry = new("lumen.json");

    private sealed record VersionOneTask(bool MultiLabel);

    private sealed record ImagesDocument(List<string> Train, List<string> Valid);

    /// <summary>Writes a model file (atomically: a crash mid-write never replaces a good file with a broken one).</summary>
    public static ModelInfo Save(VisionModel model, IReadOnlyList<string> classes, ImageTask task, double threshold, Preprocessing preprocessing, TrainingInfo training, string path,
        TrainingImages? images = null, Int8Calibration? calibration = null)
    {
        byte[] weights;
        using (var memory = new MemoryStream())
        {
            Safetensors.SaveStateDict(memory, model.state_dict(), leaveOpen: true);
            weights = memory.ToArray();
        }
        var info = new ModelInfo(FormatName, CurrentVersion, model.Spec, classes.ToArray(), task, threshold, preprocessing, training, ArchiveReader.Sha256(weights));
        ArchiveWriter.Write(path, Json, archive =>
        {
            archive.Add(InfoEntry, info);
            archive.Add(WeightsEntry, weights);
            if (images is not null)
                archive.Add(ImagesEntry, new ImagesDocument(images.Train.Order(StringComparer.Ordinal).ToList(), images.Valid.Order(StringComparer.Ordinal).ToList()));
            if (calibration is not null) archive.Add(CalibrationEntry, calibration);
        });
        return info;
    }

    /// <summary>
    /// Measures the int8 calibration of the model in <paramref name="path"/> on <paramref name="prepared"/>
    /// images and stores it in the file (atomically; the other entries are kept byte for byte).
    /// </summary>
    /// <exception cref="LumenException">The file is not a Lumen model, or its architecture has no ONNX graph.</exception>
    public static Int8Calibration AddCalibration(string path, IReadOnlyList<RgbImage> prepared, string source)
    {
        Int8Calibration calibration;
        using (var loaded = Load(path))
            calibration = Int8Calibration.Measure(loaded.Model, loaded.Info, prepared, source);
        List<(string, byte[])> kept;
        using (var archive = Open(path)) kept = archive.Entries(CalibrationEntry);
        ArchiveWriter.Write(path, Json, archive =>
        {
            archive.AddCopies(kept);
            archive.Add(CalibrationEntry, calibration);
        });
        return calibration;
    }

    /// <summary>Reads only the metadata (of an ensemble: its first member's, which all members share but the weights).</summary>
    /// <exception cref="LumenException">The file is missing, not a Lumen model, or from a newer Lumen.</exception>
    public static ModelInfo ReadInfo(string path)
    {
        using var archive = Open(path);
        if (!EnsembleFile.Holds(archive)) return ReadInfo(archive);
        using var first = EnsembleFile.OpenFirstMember(archive);
        return ReadInfo(first);
    }

    /// <summary>Loads a model file (fastai's <c>load_learner</c>), checking format, version and checksum.</summary>
    /// <exception cref="LumenException">The file is missing, truncated, corrupt, not a Lumen model, or from a newer Lumen.</exception>
    public static LoadedModel Load(string path, Device? device = null)
    {
        using var archive = Open(path);
        if (EnsembleFile.Holds(archive))
            throw new LumenException($"'{path}' is an ensemble of models: load it with Predictor.Load (export, calibrate and Grad-CAM take single models)");
        return Load(archive, device);
    }

    /// <summary>Loads the model an archive holds (a file, or an ensemble's member).</summary>
    internal static LoadedModel Load(ArchiveReader archive, Device? device)
    {
        var info = ReadInfo(archive);
        var state = archive.ReadTensors(WeightsEntry, info.WeightsSha256);
        VisionModel model;
        try
        {
            model = VisionModel.Rebuild(info.Spec);
            try
            {
                StateDicts.CopyInto(model, state, $"model file '{archive.Source}'");
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
        }
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        model.eval();
        return new LoadedModel(model, info, ReadImages(archive), calibration: archive.Read(CalibrationEntry));
    }

    /// <summary>Opens a model or ensemble file.</summary>
    internal static ArchiveReader Open(string path) => ArchiveReader.Open(path, Json, "model file",
        $"'{path}' is not a Lumen model file (not a zip archive, or truncated); export one with 'lumen train' or learner.Export");

    private static TrainingImages? ReadImages(ArchiveReader archive)
    {
        var doc = archive.Read(ImagesEntry);
        if (doc is null) return null;
        if (doc.Train is null || doc.Valid is null || doc.Train.Concat(doc.Valid).Any(h => h is null))
            throw new LumenException($"'{archive.Source}' is corrupt: its {ImagesEntry.Name} lacks a list of image hashes");
        return new TrainingImages(doc.Train.ToHashSet(StringComparer.Ordinal), doc.Valid.ToHashSet(StringComparer.Ordinal));
    }

    private static ModelInfo ReadInfo(ArchiveReader archive)
    {
        string path = archive.Source;
        if (!archive.Has(InfoEntry)) throw new LumenException($"'{path}' is not a Lumen model file (it has no {InfoEntry.Name})");
        var info = archive.Read(InfoEntry);
        if (info is null || info.Format != FormatName) throw new LumenException($"'{path}' is not a Lumen model file (format '{info?.Format}')");
        if (info.Version > CurrentVersion) throw new LumenException($"'{path}' was written by a newer Lumen (format version {info.Version}; this Lumen reads up to {CurrentVersion}); upgrade Lumen");
        if (info.Version < 2 && info.Task is null)
            info = info with { Task = archive.Read(VersionOneEntry)!.MultiLabel ? ImageTask.MultiLabel : ImageTask.SingleLabel };
        Validate(info, path);
        return info;
    }

    /// <summary>Most classes a model file may declare (the head's size follows from it).</summary>
    private const int MaxClasses = 100_000;

    /// <summary>
    /// The metadata a hostile file could use to make Lumen build something enormous or nonsensical
    /// (a head with a billion outputs, a 10⁶-pixel input size) is checked before anything is built.
    /// </summary>
    private static void Validate(ModelInfo info, string path)
    {
        string Bad(string what) => $"'{path}' is not a valid Lumen model file: lumen.json {what}";
        if (info.Spec is null || info.Classes is null || info.Task is null || info.Preprocessing is null || info.Training is null || info.WeightsSha256 is null)
            throw new LumenException(Bad("lacks the model's spec, classes, task, preprocessing, training record or checksum"));
        if (info.Spec.Classes < 1 || info.Spec.Classes > MaxClasses || info.Classes.Count != info.Spec.Classes || info.Classes.Any(c => c is null))
            throw new LumenException(Bad($"declares {info.Spec.Classes} outputs for {info.Classes.Count} class names (1 to {MaxClasses:N0} expected)"));
        if (info.WeightsSha256.Length != 64) throw new LumenException(Bad("has no valid weights checksum"));
        if (!Architectures.All.Any(a => a.Name.Equals(info.Spec.Architecture, StringComparison.OrdinalIgnoreCase)))
            throw new LumenException(Bad($"names the unknown architecture '{info.Spec.Architecture}'"));
        var head = info.Spec.Head;
        if (head is null || head.Hidden is null || head.Hidden.Count > 8 || head.Hidden.Any(h => h < 1 || h > 65_536) || head.Ps is < 0 or > 1 || double.IsNaN(head.Ps))
            throw new LumenException(Bad("has an invalid head (at most 8 hidden layers of 1 to 65,536 units, dropout in [0, 1])"));
        if (info.Preprocessing.Size is < 8 or > 8192)
            throw new LumenException(Bad($"asks for {info.Preprocessing.Size}-pixel inputs (8 to 8,192 expected)"));
        var n = info.Preprocessing.Normalization;
        if (n is null || n.Mean is null || n.Std is null || n.Mean.Length != 3 || n.Std.Length != 3 || n.Std.Any(v => !(v > 0) || float.IsInfinity(v)) || n.Mean.Any(v => !float.IsFinite(v)) || !(n.Scale > 0) || float.IsInfinity(n.Scale))
            throw new LumenException(Bad("has an invalid normalisation (three finite means, three positive standard deviations and a positive scale expected)"));
        if (!(info.Threshold is >= 0 and <= 1)) throw new LumenException(Bad($"has the decision threshold {info.Threshold} (0 to 1 expected)"));
    }
}
