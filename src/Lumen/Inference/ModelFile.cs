using Lumen.Imaging;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lumen.Data;
using Lumen.Models;
using Lumen.Tensors;
using Lumen.Training;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Lumen.Inference;

/// <summary>What a model file records besides the weights.</summary>
/// <param name="Format">Always "lumen-model".</param>
/// <param name="Version">File format version.</param>
/// <param name="Spec">Architecture, head, classes, weights origin.</param>
/// <param name="Classes">Class names in output order.</param>
/// <param name="MultiLabel">True when outputs are independent (sigmoid) labels.</param>
/// <param name="Threshold">Multi-label decision threshold.</param>
/// <param name="Preprocessing">Image preparation.</param>
/// <param name="Training">How the model was trained.</param>
/// <param name="WeightsSha256">SHA-256 of weights.safetensors (integrity check).</param>
public sealed record ModelInfo(string Format, int Version, ModelSpec Spec, IReadOnlyList<string> Classes, bool MultiLabel, double Threshold,
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
/// Lumen's model file (<c>.lumen</c>): one zip with <c>lumen.json</c> (format, architecture, head,
/// classes, task, preprocessing, training metadata, weights checksum) and <c>weights.safetensors</c>.
/// Written atomically; loading checks the format, version and checksum and fails with a clear message.
/// </summary>
public static class ModelFile
{
    /// <summary>The format name in lumen.json.</summary>
    public const string FormatName = "lumen-model";

    /// <summary>The version this Lumen writes and the newest it reads.</summary>
    public const int CurrentVersion = 1;

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    /// <summary>
    /// Exports a trained learner (fastai's <c>learn.export</c>). For architectures with an ONNX graph the
    /// file also gets its int8 calibration, measured on up to <see cref="Int8Calibration.DefaultImages"/>
    /// training images (a few seconds), so int8 inference needs nothing but the file.
    /// </summary>
    public static ModelInfo Export(Learner learner, string path)
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
        return Save(learner.Model, info.Classes, info.MultiLabel, info.Threshold, info.Preprocessing, info.Training, path, TrainingImages.Of(learner.Data), calibration);
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
        return new ModelInfo(FormatName, CurrentVersion, learner.Model.Spec, data.Vocab.Classes.ToArray(), data.MultiLabel, 0.5, preprocessing, training, "");
    }

    /// <summary>Writes a model file (atomically: a crash mid-write never replaces a good file with a broken one).</summary>
    public static ModelInfo Save(VisionModel model, IReadOnlyList<string> classes, bool multiLabel, double threshold, Preprocessing preprocessing, TrainingInfo training, string path,
        TrainingImages? images = null, Int8Calibration? calibration = null)
    {
        byte[] weights;
        using (var memory = new MemoryStream())
        {
            Safetensors.SaveStateDict(memory, model.state_dict(), leaveOpen: true);
            weights = memory.ToArray();
        }
        var info = new ModelInfo(FormatName, CurrentVersion, model.Spec, classes.ToArray(), multiLabel, threshold, preprocessing, training,
            Convert.ToHexString(SHA256.HashData(weights)).ToLowerInvariant());
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            using (var writer = new StreamWriter(zip.CreateEntry("lumen.json").Open()))
                writer.Write(JsonSerializer.Serialize(info, Json));
            using (var entry = zip.CreateEntry("weights.safetensors", CompressionLevel.NoCompression).Open())
                entry.Write(weights);
            if (images is not null)
                using (var writer = new StreamWriter(zip.CreateEntry(ImagesEntry).Open()))
                    writer.Write(JsonSerializer.Serialize(new ImagesDocument(images.Train.Order(StringComparer.Ordinal).ToList(), images.Valid.Order(StringComparer.Ordinal).ToList()), Json));
            if (calibration is not null)
                using (var writer = new StreamWriter(zip.CreateEntry(CalibrationEntry).Open()))
                    writer.Write(JsonSerializer.Serialize(calibration, Json));
        });
        return info;
    }

    /// <summary>
    /// Measures the int8 calibration of the model in <paramref name="path"/> on <paramref name="prepared"/>
    /// images and stores it in the file (atomically; the rest of the file is kept byte for byte).
    /// </summary>
    /// <exception cref="LumenException">The file is not a Lumen model, or its architecture has no ONNX graph.</exception>
    public static Int8Calibration AddCalibration(string path, IReadOnlyList<RgbImage> prepared, string source)
    {
        Int8Calibration calibration;
        using (var loaded = Load(path))
            calibration = Int8Calibration.Measure(loaded.Model, loaded.Info, prepared, source);
        var entries = new List<(string Name, byte[] Bytes)>();
        using (var zip = Open(path))
            foreach (var entry in zip.Entries.Where(e => e.FullName != CalibrationEntry))
            {
                using var memory = new MemoryStream();
                using (var s = entry.Open()) s.CopyTo(memory);
                entries.Add((entry.FullName, memory.ToArray()));
            }
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (name, bytes) in entries)
                using (var s = zip.CreateEntry(name, name == "weights.safetensors" ? CompressionLevel.NoCompression : CompressionLevel.Optimal).Open())
                    s.Write(bytes);
            using var writer = new StreamWriter(zip.CreateEntry(CalibrationEntry).Open());
            writer.Write(JsonSerializer.Serialize(calibration, Json));
        });
        return calibration;
    }

    /// <summary>Reads only the metadata (of an ensemble: its first member's, which all members share but the weights).</summary>
    /// <exception cref="LumenException">The file is missing, not a Lumen model, or from a newer Lumen.</exception>
    public static ModelInfo ReadInfo(string path)
    {
        using var zip = Open(path);
        if (zip.GetEntry(EnsembleEntry) is null) return ReadInfo(zip, path);
        using var first = OpenMember(zip, ReadEnsemble(zip, path).Members[0], path);
        return ReadInfo(first, path);
    }

    private const string EnsembleEntry = "ensemble.json";

    private sealed record EnsembleDocument(string Format, int Version, List<string> Members);

    /// <summary>True when <paramref name="path"/> is an ensemble written by <see cref="SaveEnsemble"/>.</summary>
    public static bool IsEnsemble(string path)
    {
        using var zip = Open(path);
        return zip.GetEntry(EnsembleEntry) is not null;
    }

    /// <summary>
    /// Writes an ensemble: one file holding the member model files (e.g. the folds of a cross-validation),
    /// whose <see cref="Predictor"/> averages the members' probabilities. The members must share classes,
    /// task and preprocessing.
    /// </summary>
    /// <exception cref="LumenException">Fewer than two members, a member is not a Lumen model, or the members disagree.</exception>
    public static void SaveEnsemble(string path, IReadOnlyList<string> members)
    {
        if (members.Count < 2) throw new LumenException($"an ensemble needs at least two models, got {members.Count}");
        var infos = members.Select(ReadInfo).ToList();
        foreach (var (info, member) in infos.Zip(members).Skip(1))
            if (!info.Classes.SequenceEqual(infos[0].Classes) || info.MultiLabel != infos[0].MultiLabel
                || JsonSerializer.Serialize(info.Preprocessing, Json) != JsonSerializer.Serialize(infos[0].Preprocessing, Json))
                throw new LumenException($"'{member}' cannot join an ensemble with '{members[0]}': classes, task and preprocessing must be the same");
        var names = members.Select((_, i) => $"member-{i + 1}.lumen").ToList();
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            using (var writer = new StreamWriter(zip.CreateEntry(EnsembleEntry).Open()))
                writer.Write(JsonSerializer.Serialize(new EnsembleDocument("lumen-ensemble", 1, names), Json));
            for (int i = 0; i < members.Count; i++)
                using (var entry = zip.CreateEntry(names[i], CompressionLevel.NoCompression).Open())
                using (var source = File.OpenRead(members[i]))
                    source.CopyTo(entry);
        });
    }

    /// <summary>The member models of an ensemble file, loaded (the caller disposes them).</summary>
    /// <exception cref="LumenException">The file is not an ensemble, or a member is unreadable.</exception>
    public static IReadOnlyList<LoadedModel> LoadEnsemble(string path, Device? device = null)
    {
        using var zip = Open(path);
        var members = new List<LoadedModel>();
        try
        {
            foreach (string name in ReadEnsemble(zip, path).Members)
            {
                using var member = OpenMember(zip, name, path);
                members.Add(Load(member, $"{path}!{name}", device));
            }
            return members;
        }
        catch
        {
            foreach (var m in members) m.Dispose();
            throw;
        }
    }

    /// <summary>Most members an ensemble file may name (each is a whole model to load).</summary>
    private const int MaxMembers = 100;

    private static EnsembleDocument ReadEnsemble(ZipArchive zip, string path)
    {
        var doc = TensorArchive.ReadJson<EnsembleDocument>(zip, EnsembleEntry, path, Json) ?? throw new LumenException($"'{path}' is not an ensemble");
        if (doc.Format != "lumen-ensemble" || doc.Members is null || doc.Members.Count == 0) throw new LumenException($"'{path}' has an unreadable {EnsembleEntry}");
        if (doc.Version > 1) throw new LumenException($"'{path}' was written by a newer Lumen (ensemble version {doc.Version}); upgrade Lumen");
        if (doc.Members.Count > MaxMembers || doc.Members.Distinct().Count() != doc.Members.Count)
            throw new LumenException($"'{path}' is corrupt: its {EnsembleEntry} names {doc.Members.Count} members ({doc.Members.Distinct().Count()} distinct; at most {MaxMembers})");
        return doc;
    }

    private static ZipArchive OpenMember(ZipArchive zip, string name, string path)
    {
        var entry = zip.GetEntry(name) ?? throw new LumenException($"'{path}' is not a complete ensemble: member {name} is missing");
        var memory = new MemoryStream(TensorArchive.Read(entry, TensorArchive.MaxTensorBytes, path), writable: false);
        try
        {
            var member = new ZipArchive(memory, ZipArchiveMode.Read);
            _ = member.Entries;
            return member;
        }
        catch (InvalidDataException e)
        {
            throw new LumenException($"'{path}' is corrupt: member {name} cannot be read ({e.Message})", e);
        }
    }

    /// <summary>Loads a model file (fastai's <c>load_learner</c>), checking format, version and checksum.</summary>
    /// <exception cref="LumenException">The file is missing, truncated, corrupt, not a Lumen model, or from a newer Lumen.</exception>
    public static LoadedModel Load(string path, Device? device = null)
    {
        using var zip = Open(path);
        if (zip.GetEntry(EnsembleEntry) is not null)
            throw new LumenException($"'{path}' is an ensemble of models: load it with Predictor.Load (export, calibrate and Grad-CAM take single models)");
        return Load(zip, path, device);
    }

    private static LoadedModel Load(ZipArchive zip, string path, Device? device)
    {
        var info = ReadInfo(zip, path);
        byte[] weights = TensorArchive.Read(zip.GetEntry("weights.safetensors") ?? throw new LumenException($"'{path}' is not a complete Lumen model: it has no weights.safetensors"),
            TensorArchive.MaxTensorBytes, path);
        string sha = Convert.ToHexString(SHA256.HashData(weights)).ToLowerInvariant();
        if (sha != info.WeightsSha256)
            throw new LumenException($"'{path}' is corrupt: the weights' checksum does not match (expected {info.WeightsSha256[..12]}…, got {sha[..12]}…)");
        var state = TensorArchive.LoadSafetensors(weights, path);
        VisionModel model;
        try
        {
            model = VisionModel.Rebuild(info.Spec);
            try
            {
                StateDicts.CopyInto(model, state, $"model file '{path}'");
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
        return new LoadedModel(model, info, ReadImages(zip, path), calibration: ReadCalibration(zip, path));
    }

    private const string ImagesEntry = "images.json";

    private const string CalibrationEntry = "int8-calibration.json";

    private static Int8Calibration? ReadCalibration(ZipArchive zip, string path) => TensorArchive.ReadJson<Int8Calibration>(zip, CalibrationEntry, path, Json);

    private sealed record ImagesDocument(List<string> Train, List<string> Valid);

    private static TrainingImages? ReadImages(ZipArchive zip, string path)
    {
        var doc = TensorArchive.ReadJson<ImagesDocument>(zip, ImagesEntry, path, Json);
        if (doc is null) return null;
        if (doc.Train is null || doc.Valid is null || doc.Train.Concat(doc.Valid).Any(h => h is null))
            throw new LumenException($"'{path}' is corrupt: its {ImagesEntry} lacks a list of image hashes");
        return new TrainingImages(doc.Train.ToHashSet(StringComparer.Ordinal), doc.Valid.ToHashSet(StringComparer.Ordinal));
    }

    private static ZipArchive Open(string path)
    {
        if (!File.Exists(path)) throw new LumenException($"model file '{path}' does not exist");
        ZipArchive? zip = null;
        try
        {
            zip = ZipFile.OpenRead(path);
            _ = zip.Entries;  // the central directory is read lazily: read it here, where its errors are caught
            return zip;
        }
        catch (InvalidDataException)
        {
            zip?.Dispose();
            throw new LumenException($"'{path}' is not a Lumen model file (not a zip archive, or truncated); export one with 'lumen train' or learner.Export");
        }
    }

    private static ModelInfo ReadInfo(ZipArchive zip, string path)
    {
        if (zip.GetEntry("lumen.json") is null) throw new LumenException($"'{path}' is not a Lumen model file (it has no lumen.json)");
        var info = TensorArchive.ReadJson<ModelInfo>(zip, "lumen.json", path, Json);
        if (info is null || info.Format != FormatName) throw new LumenException($"'{path}' is not a Lumen model file (format '{info?.Format}')");
        if (info.Version > CurrentVersion) throw new LumenException($"'{path}' was written by a newer Lumen (format version {info.Version}; this Lumen reads up to {CurrentVersion}); upgrade Lumen");
        Validate(info, path);
        return info;
    }

    /// <summary>SHA-256 over the sorted "split|relative path|labels" lines: identifies the data a model was trained on.</summary>
    /// <summary>Most classes a model file may declare (the head's size follows from it).</summary>
    private const int MaxClasses = 100_000;

    /// <summary>
    /// The metadata a hostile file could use to make Lumen build something enormous or nonsensical
    /// (a head with a billion outputs, a 10⁶-pixel input size) is checked before anything is built.
    /// </summary>
    private static void Validate(ModelInfo info, string path)
    {
        string Bad(string what) => $"'{path}' is not a valid Lumen model file: lumen.json {what}";
        if (info.Spec is null || info.Classes is null || info.Preprocessing is null || info.Training is null || info.WeightsSha256 is null)
            throw new LumenException(Bad("lacks the model's spec, classes, preprocessing, training record or checksum"));
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

    private static string Fingerprint(ImageDataLoaders data)
    {
        var lines = data.Train.Items.Select(i => $"train|{Path.GetRelativePath(data.Folder, i.Path)}|{i.LabelText}")
            .Concat(data.Valid.Items.Select(i => $"valid|{Path.GetRelativePath(data.Folder, i.Path)}|{i.LabelText}"))
            .OrderBy(l => l, StringComparer.Ordinal);
        return Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines)))).ToLowerInvariant();
    }
}
