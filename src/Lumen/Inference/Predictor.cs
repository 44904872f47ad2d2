using Lumen.Augment;
using Lumen.Data;
using Lumen.Imaging;
using Lumen.Models;
using Lumen.Tensors;
using Lumen.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Inference;

/// <summary>One class and its probability.</summary>
public sealed record ClassProbability(string Label, float Probability);

/// <summary>A prediction for one image.</summary>
/// <param name="Label">The most probable class (single-label) or the most probable label (multi-label).</param>
/// <param name="Index">Index of <paramref name="Label"/> in the class list.</param>
/// <param name="Probability">Its probability.</param>
/// <param name="Probabilities">Every class, in class order.</param>
/// <param name="Labels">Multi-label: every label above the threshold; single-label: just <paramref name="Label"/>.</param>
public sealed record Prediction(string Label, int Index, float Probability, IReadOnlyList<ClassProbability> Probabilities, IReadOnlyList<string> Labels)
{
    /// <summary>The <paramref name="k"/> most probable classes, best first.</summary>
    public IReadOnlyList<ClassProbability> Top(int k) => Probabilities.OrderByDescending(p => p.Probability).Take(k).ToList();
}

/// <summary>
/// Predicts with an exported model (fastai's <c>load_learner(...).predict</c>). Images go through the
/// same decoder, item transform and normalisation objects as validation did, so a validation image
/// gets the same probabilities here as in the Learner. Safe for concurrent callers: forward passes
/// are serialised, and <see cref="PredictBatch"/> lets a server batch requests.
/// </summary>
public sealed partial class Predictor : IDisposable
{
    private readonly LoadedModel _loaded;
    private readonly ItemTransform _transform;
    private readonly Device _device;
    private readonly List<(LoadedModel Loaded, IForwardEngine Engine)> _members = new();
    private readonly object _gate = new();

    /// <summary>A predictor over one model, or over the members of an ensemble (the first one describes it).</summary>
    private Predictor(IReadOnlyList<LoadedModel> members, Device device, PredictorOptions options)
    {
        _loaded = members[0];
        _device = device;
        _transform = _loaded.Info.Preprocessing.ItemTransform;
        try
        {
            foreach (var member in members)
            {
                var (engine, precision) = CreateEngine(member, device, options);
                _members.Add((member, engine));
                Precision = precision;
            }
        }
        catch
        {
            foreach (var (_, engine) in _members) engine.Dispose();
            throw;
        }
        Images = members.Any(m => m.Images is null) ? null : new TrainingImages(
            members.SelectMany(m => m.Images!.Train).ToHashSet(StringComparer.Ordinal),
            members.SelectMany(m => m.Images!.Valid).ToHashSet(StringComparer.Ordinal));
    }

    private static (IForwardEngine Engine, InferencePrecision Precision) CreateEngine(LoadedModel loaded, Device device, PredictorOptions options)
    {
        if (options.Threads < 0) throw new OptionException(OptionName.Threads, $"must be 0 (one per core) or more, got {options.Threads}");
        bool onnxRuns = device.type == DeviceType.CPU && OnnxExport.Supports(loaded.Model);
        var asked = options.Precision;
        var engine = options.Engine switch
        {
            InferenceEngine.Auto when asked == InferencePrecision.BFloat16 => InferenceEngine.Torch,
            InferenceEngine.Auto when asked == InferencePrecision.Int8 || onnxRuns => InferenceEngine.Onnx,
            InferenceEngine.Auto => InferenceEngine.Torch,
            var chosen => chosen,
        };
        if (engine == InferenceEngine.Onnx && device.type != DeviceType.CPU)
            throw new OptionException(OptionName.Engine, $"onnx runs on the CPU, but the model is on {device}; use the torch engine there");
        if (engine == InferenceEngine.Onnx && !onnxRuns)
            throw new OptionException(OptionName.Engine, $"onnx cannot run {loaded.Model.Architecture.Name} (ONNX export supports the ResNet family); use the torch engine");
        var precision = asked == InferencePrecision.Auto ? InferencePrecision.Float32 : asked;
        if (precision == InferencePrecision.Int8 && engine != InferenceEngine.Onnx)
            throw new OptionException(OptionName.Precision, "int8 runs on the onnx engine");
        if (precision == InferencePrecision.BFloat16 && engine != InferenceEngine.Torch)
            throw new OptionException(OptionName.Precision, "bfloat16 runs on the torch engine");
        IForwardEngine forward = engine == InferenceEngine.Onnx
            ? new OnnxForward(loaded, options.Threads, int8: precision == InferencePrecision.Int8)
            : new TorchForward(loaded, bfloat16: precision == InferencePrecision.BFloat16);
        return (forward, precision);
    }

    /// <summary>
    /// A predictor over a learner's model as it is now (no file): the same preprocessing, classes and
    /// TTA settings an export would record. Disposing it leaves the learner's model alone.
    /// </summary>
    /// <remarks>Runs on TorchSharp: the learner's weights change as it trains, an ONNX graph would be a stale copy.</remarks>
    public static Predictor ForLearner(Learner learner) =>
        new(new[] { new LoadedModel(learner.Model, LearnerInference.Describe(learner), ownsModel: false) }, learner.Model.parameters().First().device,
            new PredictorOptions { Engine = InferenceEngine.Torch, Precision = InferencePrecision.Float32 });

    /// <summary>Loads a <c>.lumen</c> file on <paramref name="device"/> (default CPU) with the automatic engine.</summary>
    /// <exception cref="LumenException">The file is missing, corrupt or not a Lumen model.</exception>
    public static Predictor Load(string path, Device? device = null) => Load(path, new PredictorOptions { Device = device });

    /// <summary>
    /// Loads a <c>.lumen</c> file with the given engine, device and threads. An ensemble file
    /// (<see cref="EnsembleFile.Save"/>) gives a predictor whose probabilities are the mean of its members'.
    /// </summary>
    /// <exception cref="LumenException">The file is missing, corrupt or not a Lumen model.</exception>
    /// <exception cref="OptionException">The engine cannot run this model on this device.</exception>
    public static Predictor Load(string path, PredictorOptions options)
    {
        var device = options.Device ?? CPU;
        var members = EnsembleFile.Is(path) ? EnsembleFile.Load(path, device) : new[] { ModelFile.Load(path, device) };
        try
        {
            return new Predictor(members, device, options);
        }
        catch
        {
            foreach (var m in members) m.Dispose();
            throw;
        }
    }

    /// <summary>How many models predict: 1, or the members of an ensemble.</summary>
    public int Members => _members.Count;

    /// <summary>The engine computing forward passes (never <see cref="InferenceEngine.Auto"/>: what auto chose).</summary>
    public InferenceEngine Engine => _members[0].Engine.Kind;

    /// <summary>The number format of forward passes (never <see cref="InferencePrecision.Auto"/>: what auto chose).</summary>
    public InferencePrecision Precision { get; }

    /// <summary>The model's metadata.</summary>
    public ModelInfo Info => _loaded.Info;

    /// <summary>Which images the model (an ensemble: any member) was trained and validated on (null for files that do not record it).</summary>
    public TrainingImages? Images { get; }

    /// <summary>Class names in output order.</summary>
    public IReadOnlyList<string> Classes => _loaded.Info.Classes;

    /// <summary>The network (an ensemble's first member: Grad-CAM shows where that one looked).</summary>
    public VisionModel Model => _loaded.Model;

    /// <summary>The device the model runs on.</summary>
    public Device Device => _device;

    /// <summary>The item transform used for every image.</summary>
    public ItemTransform Transform => _transform;

    /// <summary>Decodes and prepares an image file as the model expects (before normalisation).</summary>
    public RgbImage Prepare(string path) => Info.Preprocessing.Prepare(path);

    /// <summary>Decodes and prepares image bytes (an upload); <paramref name="source"/> names them in errors.</summary>
    public RgbImage Prepare(byte[] bytes, string source, long maxPixels = ImageDecoder.DefaultMaxPixels) =>
        _transform.Apply(_transform.Load(bytes, source, maxPixels), null);

    /// <summary>
    /// Prepares many files in parallel (decoding is the costly part); a file that cannot be read comes
    /// back with the reason instead of an image, in the same position.
    /// </summary>
    /// <param name="paths">The image files.</param>
    /// <param name="workers">Threads decoding at once; 0 = one per core.</param>
    /// <param name="cancellation">Stops decoding (throws <see cref="OperationCanceledException"/>).</param>
    public IReadOnlyList<(RgbImage? Image, string? Error)> PrepareMany(IReadOnlyList<string> paths, int workers = 0, CancellationToken cancellation = default)
    {
        var result = new (RgbImage?, string?)[paths.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = workers > 0 ? workers : Environment.ProcessorCount, CancellationToken = cancellation };
        Parallel.For(0, paths.Count, parallel, i =>
        {
            try { result[i] = (Prepare(paths[i]), null); }
            catch (ImageDecodeException e) { result[i] = (null, e.Reason); }
        });
        return result;
    }

    /// <summary>Predicts one image file.</summary>
    public Prediction Predict(string path, int tta = 0) => PredictPrepared(new[] { Prepare(path) }, tta)[0];

    /// <summary>Predicts prepared images (from <see cref="Prepare(string)"/>) in one forward pass.</summary>
    public IReadOnlyList<Prediction> PredictBatch(IReadOnlyList<RgbImage> prepared, int tta = 0) => PredictPrepared(prepared, tta);

    /// <summary>
    /// Class probabilities (N×C, or N×C×H×W for a segmentation model; CPU) of prepared images, with
    /// optional test-time augmentation (classifiers; a segmentation's goes through <see cref="PredictMask(string, int)"/>,
    /// which maps the mirrored image's probabilities back before averaging).
    /// </summary>
    /// <exception cref="OptionException">(Tta) Test-time augmentation was asked of a segmentation model here.</exception>
    public Tensor Probabilities(IReadOnlyList<RgbImage> prepared, int tta = 0)
    {
        if (tta > 0 && !Info.Task.PerImage)
            throw new OptionException(OptionName.Tta, Info.Task.PerPixel
                ? "averages a segmentation's probabilities only through PredictMask, which moves them back onto the image first"
                : "is not available for detection models");
        using var scope = NewDisposeScope();
        var preprocessing = Info.Preprocessing;
        Tensor result = Tta.Predict(augment => augment is null ? ForwardPlain(prepared) : Forward(preprocessing.Batch(prepared, _device, augment)),
            Info.Training.Augment, tta, Info.Training.Seed);
        return result.cpu().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Grad-CAM for a prepared image (from <see cref="Prepare(string)"/>): the heat map of
    /// <paramref name="classIndex"/> over the image, as an overlay of the same size.
    /// </summary>
    public RgbImage GradCam(RgbImage prepared, int classIndex)
    {
        lock (_gate)
        {
            using var scope = NewDisposeScope();
            var heat = Inference.GradCam.Compute(_loaded.Model, Info.Preprocessing.Batch(new[] { prepared }, _device), new[] { classIndex });
            return Inference.GradCam.Overlay(prepared, heat[0]);
        }
    }

    /// <summary>Probabilities of a model-ready (normalised) batch.</summary>
    private Tensor Forward(Tensor input) => Average(engine => engine.Probabilities(input));

    /// <summary>Probabilities of prepared images without augmentation; on the CPU the input is built in one pass (<see cref="Preprocessing.Input"/>).</summary>
    private Tensor ForwardPlain(IReadOnlyList<RgbImage> prepared)
    {
        if (_device.type != DeviceType.CPU) return Forward(Info.Preprocessing.Batch(prepared, _device));
        var (data, shape) = Info.Preprocessing.Input(prepared);
        return Average(engine => engine.Probabilities(data, shape));
    }

    /// <summary>The members' mean of <paramref name="probabilities"/> (one member: its own).</summary>
    private Tensor Average(Func<IForwardEngine, Tensor> probabilities)
    {
        // One pass at a time: a pass already uses every core, and the torch model is shared with Grad-CAM.
        lock (_gate)
        {
            if (_members.Count == 1) return probabilities(_members[0].Engine);
            using var scope = NewDisposeScope();
            var sum = probabilities(_members[0].Engine);
            foreach (var (_, engine) in _members.Skip(1)) sum.add_(probabilities(engine), Scalars.One);
            using var count = ((double)_members.Count).ToScalar();
            return sum.div_(count).MoveToOuterDisposeScope();
        }
    }

    private IReadOnlyList<Prediction> PredictPrepared(IReadOnlyList<RgbImage> prepared, int tta)
    {
        if (!Info.Task.PerImage)
            throw new LumenException($"this is a {Info.Task.Name} model: it answers with {(Info.Task.PerPixel ? "a mask (PredictMask)" : "boxes (PredictBoxes)")}, not classes per image");
        using var probabilities = Probabilities(prepared, tta);
        float[] values = probabilities.data<float>().ToArray();
        int classes = Classes.Count;
        var result = new List<Prediction>(prepared.Count);
        for (int i = 0; i < prepared.Count; i++)
        {
            var probs = Enumerable.Range(0, classes).Select(c => new ClassProbability(Classes[c], values[i * classes + c])).ToList();
            int best = Enumerable.Range(0, classes).MaxBy(c => probs[c].Probability);
            var labels = Info.Task.Decide(values.AsSpan(i * classes, classes), best, Info.Threshold).Select(c => Classes[c]).ToList();
            result.Add(new Prediction(Classes[best], best, probs[best].Probability, probs, labels));
        }
        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (loaded, engine) in _members)
        {
            engine.Dispose();
            loaded.Dispose();
        }
    }
}

/// <summary>
/// Test-time augmentation as fastai v2's <c>tta(n=4, beta=0.25)</c>: the mean of n augmented
/// predictions blended with the plain prediction: (1 − β)·mean(augmented) + β·plain. n = 0 is the
/// plain prediction.
/// </summary>
public static class Tta
{
    /// <summary>fastai's blend weight of the plain prediction.</summary>
    public const double Beta = 0.25;

    /// <summary>
    /// Blended probabilities of <paramref name="n"/> augmented passes (seeded). <paramref name="probabilities"/>
    /// gives a batch's probabilities with the RGB [0, 1] augmentation it is handed applied before
    /// normalisation (null for the plain pass).
    /// </summary>
    public static Tensor Predict(Func<Func<Tensor, Tensor>?, Tensor> probabilities, AugmentOptions augment, int n, int seed, double beta = Beta)
    {
        if (n < 0) throw new OptionException(OptionName.Tta, $"must be 0 or more passes, got {n}");
        using var scope = NewDisposeScope();
        Tensor plain = probabilities(null);
        if (n == 0) return plain.MoveToOuterDisposeScope();
        // Use the training augmentation, or fastai's defaults when training had none.
        var augmenter = new BatchAugmenter(augment.IsIdentity ? AugmentOptions.Default : augment);
        Tensor sum = zeros_like(plain);
        for (int i = 0; i < n; i++)
        {
            var random = new Random(Seeds.Derive(seed, SeedStream.Tta, i));
            sum.add_(probabilities(x => augmenter.Apply(x, random)), Scalars.One);
        }
        using var passes = n.ToScalar();
        using var augmentedWeight = (1 - beta).ToScalar();
        using var plainWeight = beta.ToScalar();
        return sum.div_(passes).mul_(augmentedWeight).add_(plain.mul(plainWeight), Scalars.One).MoveToOuterDisposeScope();
    }
}
