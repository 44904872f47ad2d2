using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using Lumen.Data;
using Lumen.Models;
using DataLoader = Lumen.Data.DataLoader;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>Training diverged (the loss became NaN or infinite).</summary>
public sealed class TrainingDivergedException(string message) : LumenException(message);

/// <summary>
/// Trains a <see cref="VisionModel"/> on <see cref="ImageDataLoaders"/> (fastai's Learner): AdamW with
/// layer groups, freeze/unfreeze, one-cycle, fine_tune, the LR finder, metrics, callbacks,
/// resumable checkpoints and cooperative cancellation (finishes the current batch).
/// </summary>
public sealed class Learner
{
    private const double SmoothBeta = 0.98;
    private readonly int _seed;
    private int _epochsDone;
    private Position _position = new("fit", 0, 0, 0);
    private FineTunePlan? _plan;
    private (IReadOnlyList<Tensor> Features, Tensor Targets)? _featureCache;

    /// <summary>Creates a learner. The data is re-normalised for the model's pretrained weights.</summary>
    public Learner(ImageDataLoaders data, VisionModel model, Loss? loss = null, TrainingOptions? options = null)
    {
        Options = options ?? new TrainingOptions();
        Data = data.WithNormalization(model.Normalization);
        if (Options.Oversample) Data = Data.WithTrain(Data.Train.WithClassBalancedSampling());
        Model = model;
        Loss = loss ?? DefaultLoss(Data, Options);
        Metrics = Options.Metrics ?? Training.Metrics.DefaultFor(Data.MultiLabel, Data.Vocab.Count);
        _seed = Data.Options.Seed;
        Groups = model.LayerGroups();
        Optimizer = new AdamW(Groups, Options.WeightDecay);
    }

    /// <summary>The data (normalised for the model).</summary>
    public ImageDataLoaders Data { get; }

    /// <summary>The model being trained.</summary>
    public VisionModel Model { get; }

    /// <summary>The loss minimised.</summary>
    public Loss Loss { get; }

    /// <summary>Validation metrics.</summary>
    public IReadOnlyList<IMetric> Metrics { get; }

    /// <summary>Training settings.</summary>
    public TrainingOptions Options { get; }

    /// <summary>The optimiser.</summary>
    public AdamW Optimizer { get; }

    /// <summary>Parameter groups, first (stem) to last (head).</summary>
    public IReadOnlyList<IReadOnlyList<Parameter>> Groups { get; }

    /// <summary>Callbacks run during fits.</summary>
    public List<ICallback> Callbacks { get; } = new();

    /// <summary>One row per finished epoch.</summary>
    public List<EpochRecord> History { get; } = new();

    /// <summary>Smoothed training loss after every batch (for the loss curve).</summary>
    public List<double> BatchLosses { get; } = new();

    /// <summary>Receives per-epoch progress (batches).</summary>
    public IProgressReporter Progress { get; set; } = NullProgress.Instance;

    /// <summary>When cancelled, training finishes the current batch, writes <see cref="CheckpointPath"/> (if set) and stops.</summary>
    public CancellationToken Cancellation { get; set; }

    /// <summary>Where interruption writes a checkpoint; null for none.</summary>
    public string? CheckpointPath { get; set; }

    /// <summary>True when the last fit ended because <see cref="Cancellation"/> was triggered.</summary>
    public bool Interrupted { get; private set; }

    /// <summary>Why the last fit stopped early (early stopping, interruption), or null.</summary>
    public string? StopReason { get; private set; }

    /// <summary>True while all groups but the head are frozen.</summary>
    public bool IsFrozen { get; private set; }

    private bool BodyWithoutGrad => IsFrozen && !Options.TrainBn;

    private bool UsesFeatureCache => BodyWithoutGrad && Data.Options.Augment.IsIdentity && FeatureCacheEnabled;

    /// <summary>Allows the frozen-phase feature cache (on by default; off to compare against the uncached path).</summary>
    internal bool FeatureCacheEnabled { get; set; } = true;

    private static Loss DefaultLoss(ImageDataLoaders data, TrainingOptions options)
    {
        if (data.MultiLabel) return Training.Loss.BinaryCrossEntropy();
        float[]? weights = null;
        if (options.ClassWeights)
        {
            var counts = data.Vocab.Classes.Select(c => data.Train.Items.Count(i => i.Labels[0] == c)).ToArray();
            weights = counts.Select(c => c == 0 ? 0f : (float)data.Train.Items.Count / (counts.Length * c)).ToArray();
        }
        return Training.Loss.CrossEntropy(options.LabelSmoothing, weights);
    }

    /// <summary>Freezes every group but the last (the head); BatchNorm layers stay trainable unless <see cref="TrainingOptions.TrainBn"/> is off.</summary>
    public void Freeze() => FreezeTo(Groups.Count - 1);

    /// <summary>Makes every parameter trainable.</summary>
    public void Unfreeze() => FreezeTo(0);

    /// <summary>Freezes groups [0, n); later groups are trainable.</summary>
    public void FreezeTo(int n)
    {
        var batchNorm = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        if (Options.TrainBn)
            foreach (var (_, m) in Model.named_modules())
                if (m is BatchNorm2d or BatchNorm1d) foreach (var p in m.parameters()) batchNorm.Add(p);
        for (int g = 0; g < Groups.Count; g++)
            foreach (var p in Groups[g]) p.requires_grad = g >= n || batchNorm.Contains(p);
        IsFrozen = n > 0;
        ReleaseFeatureCache();
    }

    /// <summary>Trains <paramref name="epochs"/> epochs at constant learning rates (momentum 0.9).</summary>
    public void Fit(int epochs, LearningRates lr) =>
        RunPhase("fit", epochs, 0, 0, (_, g) => (lr.ForGroups(Groups.Count)[g], 0.9));

    /// <summary>fastai's <c>fit_one_cycle</c>: cosine warm-up from lrMax/div to lrMax over pctStart of the iterations, then cosine down to lrMax/divFinal; momentum the other way.</summary>
    public void FitOneCycle(int epochs, LearningRates lrMax, double div = 25, double divFinal = 1e5, double pctStart = 0.25,
        (double, double, double)? moms = null) =>
        FitOneCycle("fit", epochs, lrMax, div, divFinal, pctStart, moms ?? (0.95, 0.85, 0.95), 0, 0);

    private void FitOneCycle(string phase, int epochs, LearningRates lrMax, double div, double divFinal, double pctStart,
        (double, double, double) moms, int startEpoch, int startBatch)
    {
        double[] max = lrMax.ForGroups(Groups.Count);
        RunPhase(phase, epochs, startEpoch, startBatch, (pct, g) =>
            (Schedules.OneCycleLr(pct, max[g], div, divFinal, pctStart), Schedules.OneCycleMomentum(pct, moms, pctStart)));
    }

    /// <summary>
    /// fastai v2's <c>fine_tune</c>: freeze and fit_one_cycle(freezeEpochs, baseLr, pct_start 0.99); then
    /// halve baseLr, unfreeze, and fit_one_cycle(epochs, slice(baseLr/lrMult, baseLr), pctStart, div).
    /// </summary>
    public void FineTune(int epochs, double baseLr = 2e-3, int freezeEpochs = 1, double lrMult = 100, double pctStart = 0.3, double div = 5) =>
        RunFineTune(new FineTunePlan(epochs, baseLr, freezeEpochs, lrMult, pctStart, div), new Position("frozen", 0, 0, 0));

    private void RunFineTune(FineTunePlan plan, Position from)
    {
        _plan = plan;
        if (from.Phase == "frozen" && plan.FreezeEpochs > 0)
        {
            Freeze();
            FitOneCycle("frozen", plan.FreezeEpochs, plan.BaseLr, 25, 1e5, 0.99, (0.95, 0.85, 0.95), from.EpochInPhase, from.Batch);
            if (StopReason is not null) return;
            from = new Position("unfrozen", 0, 0, 0);
        }
        Unfreeze();
        double lr = plan.BaseLr / 2;
        int start = from.Phase == "unfrozen" ? from.EpochInPhase : 0;
        FitOneCycle("unfrozen", plan.Epochs, LearningRates.Slice(lr / plan.LrMult, lr), plan.Div, 1e5, plan.PctStart, (0.95, 0.85, 0.95), start, from.Phase == "unfrozen" ? from.Batch : 0);
    }

    /// <summary>The loop shared by every fit. <paramref name="hyper"/> maps (fraction of the phase done, group) to (lr, momentum).</summary>
    private void RunPhase(string phase, int epochs, int startEpoch, int startBatch, Func<double, int, (double Lr, double Mom)> hyper)
    {
        if (epochs < 1) throw new LumenException($"the number of epochs must be at least 1, got {epochs}");
        StopReason = null;
        Interrupted = false;
        foreach (var cb in Callbacks) cb.BeforeFit(this);
        double smooth = 0;
        int smoothCount = 0;
        int batchesPerEpoch = Data.Train.BatchCount;
        long total = (long)epochs * batchesPerEpoch;
        try
        {
            for (int e = startEpoch; e < epochs && StopReason is null; e++)
            {
                var clock = Stopwatch.StartNew();
                int epoch = _epochsDone;
                _position = new Position(phase, e, startBatch, epoch);
                void Apply(int batch)
                {
                    double pct = (double)((long)e * batchesPerEpoch + batch) / total;
                    for (int g = 0; g < Groups.Count; g++)
                        (Optimizer.LearningRates[g], Optimizer.Momentums[g]) = hyper(pct, g);
                }
                using var task = Progress.Start($"epoch {epoch + 1} ({phase} {e + 1}/{epochs})", batchesPerEpoch - startBatch + Data.Valid.BatchCount);
                bool finished = TrainEpoch(epoch, startBatch, Apply, task, ref smooth, ref smoothCount);
                startBatch = 0;
                if (!finished)
                {
                    Interrupted = true;
                    StopReason = "interrupted";
                    if (CheckpointPath is not null) SaveCheckpoint(CheckpointPath);
                    task.Complete($"epoch {epoch + 1} ({phase}) interrupted" + (CheckpointPath is null ? "" : $"; checkpoint written to {CheckpointPath}"));
                    break;
                }
                var (validLoss, metrics) = Validate(task);
                _epochsDone++;
                _position = new Position(phase, e + 1, 0, _epochsDone);
                var record = new EpochRecord(epoch, phase, smoothCount == 0 ? double.NaN : smooth / (1 - Math.Pow(SmoothBeta, smoothCount)), validLoss, metrics, clock.Elapsed.TotalSeconds);
                task.Complete($"epoch {epoch + 1} ({phase})  train_loss {record.TrainLoss:F4}  valid_loss {record.ValidLoss:F4}  "
                    + string.Join("  ", metrics.Select(m => $"{m.Key} {m.Value:F4}")) + $"  {TimeSpan.FromSeconds(record.Seconds):mm\\:ss}");
                History.Add(record);
                foreach (var cb in Callbacks) cb.AfterEpoch(this, record);
            }
        }
        finally
        {
            foreach (var cb in Callbacks) cb.AfterFit(this);
        }
    }

    /// <summary>One training epoch; returns false when interrupted.</summary>
    private bool TrainEpoch(int epoch, int startBatch, Action<int> applySchedule, IProgressTask task, ref double smooth, ref int smoothCount)
    {
        Model.train();
        if (BodyWithoutGrad) Model.Body.eval();
        int batches = Data.Train.BatchCount;
        int b = startBatch;
        foreach (var (x, y) in TrainingBatches(epoch, startBatch))
        {
            double value;
            using (var scope = NewDisposeScope())
            {
                torch.manual_seed(Seeds.Derive(_seed, 4, epoch, b));
                applySchedule(b);
                Tensor loss = ComputeLoss(x, y, new Random(Seeds.Derive(_seed, 5, epoch, b)), pooled: _featureCache is not null);
                value = loss.item<float>();
                if (double.IsNaN(value) || double.IsInfinity(value))
                    throw new TrainingDivergedException($"training diverged: the loss became {value} at epoch {epoch + 1}, batch {b + 1} (learning rate {Optimizer.LearningRates[^1]:G3}). Try a lower learning rate (lumen lr-find suggests one), check the data for broken images, or turn off mixup.");
                Optimizer.ZeroGrad();
                loss.backward();
                Optimizer.Step();
            }
            x.Dispose();
            y.Dispose();
            smooth = SmoothBeta * smooth + (1 - SmoothBeta) * value;
            smoothCount++;
            BatchLosses.Add(smooth / (1 - Math.Pow(SmoothBeta, smoothCount)));
            b++;
            _position = _position with { Batch = b };
            task.Advance();
            foreach (var cb in Callbacks) cb.AfterBatch(this, value);
            if (Cancellation.IsCancellationRequested && b < batches) return false;
        }
        return true;
    }

    /// <summary>Mean loss of a batch, with MixUp when enabled; runs a frozen body without autograd when allowed.</summary>
    /// <param name="x">Images, or pooled body features when <paramref name="pooled"/> is true (feature cache).</param>
    /// <param name="y">Targets.</param>
    /// <param name="random">Source of MixUp's randomness.</param>
    /// <param name="pooled">True when <paramref name="x"/> holds cached pooled features.</param>
    private Tensor ComputeLoss(Tensor x, Tensor y, Random random, bool pooled)
    {
        Tensor Forward(Tensor input)
        {
            if (pooled) return HeadAfterPooling(input);
            if (!BodyWithoutGrad) return Model.forward(input);
            Tensor features;
            using (no_grad()) features = Model.Body.forward(input);
            return Model.Head.forward(features);
        }
        if (Options.MixUpAlpha <= 0) return Loss.Mean(Forward(x), y);

        long n = x.shape[0];
        var lam = new float[n];
        for (int i = 0; i < n; i++)
        {
            double l = Beta(Options.MixUpAlpha, random);
            lam[i] = (float)Math.Max(l, 1 - l);
        }
        var perm = Enumerable.Range(0, (int)n).ToArray();
        random.Shuffle(perm);
        var permIndex = tensor(perm.Select(i => (long)i).ToArray(), device: x.device);
        var lamX = tensor(lam, device: x.device).view(new long[] { n }.Concat(Enumerable.Repeat(1L, (int)x.dim() - 1)).ToArray());
        var mixed = x * lamX + x.index_select(0, permIndex) * (1 - lamX);
        var logits = Forward(mixed);
        var lamT = tensor(lam, device: x.device);
        var yB = y.index_select(0, permIndex);
        if (Data.MultiLabel)
        {
            var lamY = lamT.unsqueeze(1);
            return Loss.Mean(logits, y * lamY + yB * (1 - lamY));
        }
        return (Loss.PerItem(logits, y) * lamT + Loss.PerItem(logits, yB) * (1 - lamT)).mean();
    }

    /// <summary>Beta(α, α) sample from two Gamma(α) samples (Marsaglia–Tsang, boosted for α &lt; 1).</summary>
    private static double Beta(double alpha, Random random)
    {
        double a = Gamma(alpha, random), b = Gamma(alpha, random);
        return a / (a + b);
    }

    private static double Gamma(double shape, Random random)
    {
        if (shape < 1) return Gamma(shape + 1, random) * Math.Pow(random.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
                x = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = random.NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    /// <summary>
    /// Training inputs and targets of one epoch. With a frozen body that needs no autograd and no
    /// augmentation, the body's pooled features are computed once (deterministic crops) and reused.
    /// </summary>
    private IEnumerable<(Tensor X, Tensor Y)> TrainingBatches(int epoch, int startBatch)
    {
        if (UsesFeatureCache)
        {
            var (features, targets) = _featureCache ??= BuildFeatureCache();
            int bs = Data.Train.BatchSize, batches = Data.Train.BatchCount;
            // The same items per batch as the image loader would give (shuffle or oversampling).
            int[] order = Data.Train.EpochOrder(epoch);
            var all = features[0];
            for (int b = startBatch; b < batches; b++)
            {
                var index = tensor(order.Skip(b * bs).Take(bs).Select(i => (long)i).ToArray(), device: all.device);
                yield return (all.index_select(0, index), targets.index_select(0, index));
                index.Dispose();
            }
            yield break;
        }
        foreach (var batch in Data.Train.Batches(epoch, startBatch))
            yield return (batch.Images, batch.Targets);
    }

    private (IReadOnlyList<Tensor>, Tensor) BuildFeatureCache()
    {
        var loader = new DataLoader(Data.Train.Items, Data.Vocab, Data.MultiLabel, Data.Options, training: false, Data.Train.Device);
        var features = new List<Tensor>();
        var targets = new List<Tensor>();
        Model.eval();
        using (var task = Progress.Start("caching frozen-body features", loader.BatchCount))
        using (no_grad())
        {
            foreach (var batch in loader.Batches())
            {
                using (batch)
                {
                    features.Add(PooledFeatures(batch.Images).DetachFromDisposeScope());
                    targets.Add(batch.Targets.clone().DetachFromDisposeScope());
                }
                task.Advance();
            }
        }
        Model.train();
        Model.Body.eval();
        var all = cat(features, 0).DetachFromDisposeScope();
        foreach (var f in features) f.Dispose();
        var y = cat(targets, 0).DetachFromDisposeScope();
        foreach (var t in targets) t.Dispose();
        return (new[] { all }, y);
    }

    /// <summary>The body and the head's parameter-free pooling and flattening (the bottleneck features).</summary>
    private Tensor PooledFeatures(Tensor images)
    {
        using var scope = NewDisposeScope();
        Tensor x = Model.Body.forward(images);
        foreach (var (_, layer) in Model.Head.named_children().Take(2)) x = ((nn.Module<Tensor, Tensor>)layer).forward(x);
        return x.MoveToOuterDisposeScope();
    }

    private Tensor HeadAfterPooling(Tensor pooled)
    {
        Tensor x = pooled;
        foreach (var (_, layer) in Model.Head.named_children().Skip(2)) x = ((nn.Module<Tensor, Tensor>)layer).forward(x);
        return x;
    }

    private void ReleaseFeatureCache()
    {
        if (_featureCache is not { } cache) return;
        foreach (var f in cache.Features) f.Dispose();
        cache.Targets.Dispose();
        _featureCache = null;
    }

    /// <summary>Validation loss (mean over items) and metrics.</summary>
    public (double Loss, Dictionary<string, double> Metrics) Validate() => Validate(null);

    private (double Loss, Dictionary<string, double> Metrics) Validate(IProgressTask? task)
    {
        using var predictions = GetPredictions(Data.Valid, task);
        using var scope = NewDisposeScope();
        double loss = predictions.Losses.mean().item<float>();
        var metrics = Metrics.ToDictionary(m => m.Name, m => m.Compute(predictions.Logits, predictions.Targets));
        return (loss, metrics);
    }

    /// <summary>Predictions, targets and per-item losses on a loader (default: validation), in item order.</summary>
    public Predictions GetPredictions(DataLoader? loader = null) => GetPredictions(loader, null);

    private Predictions GetPredictions(DataLoader? loader, IProgressTask? outerTask)
    {
        loader ??= Data.Valid;
        if (loader.Training) loader = new DataLoader(loader.Items, loader.Vocab, loader.MultiLabel, loader.Options, training: false, loader.Device);
        Model.eval();
        var logits = new List<Tensor>();
        var targets = new List<Tensor>();
        var items = new List<LabelledItem>();
        using (var ownTask = outerTask is null ? Progress.Start("predicting", loader.BatchCount) : null)
        using (no_grad())
        {
            foreach (var batch in loader.Batches())
            {
                using (batch)
                {
                    logits.Add(Model.forward(batch.Images).cpu().DetachFromDisposeScope());
                    targets.Add(batch.Targets.cpu().DetachFromDisposeScope());
                    items.AddRange(batch.Items);
                }
                (outerTask ?? ownTask)!.Advance();
            }
        }
        var allLogits = cat(logits, 0).DetachFromDisposeScope();
        var allTargets = cat(targets, 0).DetachFromDisposeScope();
        foreach (var t in logits.Concat(targets)) t.Dispose();
        Tensor losses;
        using (no_grad()) losses = Loss.PerItem(allLogits, allTargets).DetachFromDisposeScope();
        return new Predictions(allLogits, allTargets, losses, items, loader.MultiLabel);
    }

    /// <summary>
    /// fastai's <c>lr_find</c>: the learning rate grows exponentially from <paramref name="start"/> to
    /// <paramref name="end"/> over <paramref name="iterations"/> batches; stops when the smoothed loss
    /// exceeds 4× its minimum; model and optimiser are restored afterwards.
    /// </summary>
    public LrFindResult LrFind(double start = 1e-7, double end = 10, int iterations = 100)
    {
        if (!(start > 0 && end > start)) throw new LumenException($"the LR finder needs 0 < start < end, got {start} and {end}");
        var modelState = StateDicts.Clone(Model.state_dict());
        var optimizerState = Optimizer.StateDict();
        var lrs = new List<double>();
        var losses = new List<double>();
        try
        {
            Model.train();
            if (BodyWithoutGrad) Model.Body.eval();
            double smooth = 0, best = double.PositiveInfinity;
            int i = 0;
            using var task = Progress.Start("LR finder", iterations);
            for (int epoch = 0; i < iterations; epoch++)
            {
                bool any = false;
                foreach (var batch in Data.Train.Batches(1_000_000 + epoch))
                {
                    any = true;
                    using (batch)
                    using (var scope = NewDisposeScope())
                    {
                        double lr = Schedules.Exponential(start, end, (double)i / iterations);
                        for (int g = 0; g < Groups.Count; g++) { Optimizer.LearningRates[g] = lr; Optimizer.Momentums[g] = 0.9; }
                        Tensor loss = ComputeLoss(batch.Images, batch.Targets, new Random(Seeds.Derive(_seed, 6, i)), pooled: false);
                        double value = loss.item<float>();
                        Optimizer.ZeroGrad();
                        loss.backward();
                        Optimizer.Step();
                        smooth = SmoothBeta * smooth + (1 - SmoothBeta) * value;
                        double debiased = smooth / (1 - Math.Pow(SmoothBeta, i + 1));
                        lrs.Add(lr);
                        losses.Add(debiased);
                        best = Math.Min(best, debiased);
                        i++;
                        task.Advance();
                        if (double.IsNaN(debiased) || debiased > 4 * best || i >= iterations || Cancellation.IsCancellationRequested) { i = iterations; break; }
                    }
                }
                if (!any) break;
            }
        }
        finally
        {
            StateDicts.CopyInto(Model, modelState);
            Optimizer.LoadStateDict(optimizerState);
            foreach (var t in modelState.Values.Concat(optimizerState.Values)) t.Dispose();
        }
        int keep = losses.FindIndex(double.IsNaN);
        if (keep >= 0) { lrs.RemoveRange(keep, lrs.Count - keep); losses.RemoveRange(keep, losses.Count - keep); }
        return new LrFindResult(lrs, losses, iterations);
    }

    internal void RequestStop(string reason) => StopReason ??= reason;

    // ---- checkpoints ----------------------------------------------------------------------------

    private sealed record Position(string Phase, int EpochInPhase, int Batch, int EpochsDone);

    private sealed record FineTunePlan(int Epochs, double BaseLr, int FreezeEpochs, double LrMult, double PctStart, double Div);

    private sealed record CheckpointMeta(int Format, ModelSpec Spec, Position Position, FineTunePlan? Plan, List<EpochRecord> History, List<double> BatchLosses, bool Frozen);

    /// <summary>
    /// Writes a resumable checkpoint (a zip: model and optimiser state as safetensors, position and
    /// history as JSON), atomically.
    /// </summary>
    public void SaveCheckpoint(string path)
    {
        var meta = new CheckpointMeta(1, Model.Spec, _position, _plan, History, BatchLosses, IsFrozen);
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            using (var entry = zip.CreateEntry("model.safetensors", CompressionLevel.NoCompression).Open())
                Safetensors.SaveStateDict(entry, Model.state_dict());
            var optimizerState = Optimizer.StateDict();
            using (var entry = zip.CreateEntry("optimizer.safetensors", CompressionLevel.NoCompression).Open())
                Safetensors.SaveStateDict(entry, optimizerState);
            foreach (var t in optimizerState.Values) t.Dispose();
            using (var entry = new StreamWriter(zip.CreateEntry("checkpoint.json").Open()))
                entry.Write(JsonSerializer.Serialize(meta, CheckpointJson));
        });
    }

    /// <summary>
    /// Continues a <see cref="FineTune"/> run from a checkpoint written by <see cref="SaveCheckpoint"/>:
    /// weights, optimiser state, history and the exact position (phase, epoch, batch) are restored;
    /// the remaining batches are the ones an uninterrupted run would have seen.
    /// </summary>
    /// <exception cref="LumenException">The file is not a Lumen checkpoint or belongs to another model.</exception>
    public void ResumeFineTune(string checkpointPath)
    {
        var meta = LoadCheckpoint(checkpointPath);
        if (meta.Plan is null) throw new LumenException($"--resume: '{checkpointPath}' was not written by a fine_tune run");
        RunFineTune(meta.Plan, meta.Position);
    }

    private CheckpointMeta LoadCheckpoint(string path)
    {
        if (!File.Exists(path)) throw new LumenException($"--resume: checkpoint '{path}' does not exist");
        try
        {
            using var zip = ZipFile.OpenRead(path);
            CheckpointMeta meta;
            using (var reader = new StreamReader(Entry(zip, "checkpoint.json", path).Open()))
                meta = JsonSerializer.Deserialize<CheckpointMeta>(reader.ReadToEnd(), CheckpointJson)
                       ?? throw new LumenException($"--resume: '{path}' has an empty checkpoint.json");
            if (meta.Spec.Architecture != Model.Spec.Architecture || meta.Spec.Classes != Model.Spec.Classes)
                throw new LumenException($"--resume: '{path}' is a {meta.Spec.Architecture} checkpoint with {meta.Spec.Classes} classes, but this run builds {Model.Spec.Architecture} with {Model.Spec.Classes}");
            if (meta.Frozen) Freeze(); else Unfreeze();
            using (var memory = new MemoryStream())
            {
                using (var s = Entry(zip, "model.safetensors", path).Open()) s.CopyTo(memory);
                memory.Position = 0;
                var state = Safetensors.LoadStateDict(memory);
                StateDicts.CopyInto(Model, state, $"checkpoint '{path}'");
                foreach (var t in state.Values) t.Dispose();
            }
            using (var memory = new MemoryStream())
            {
                using (var s = Entry(zip, "optimizer.safetensors", path).Open()) s.CopyTo(memory);
                memory.Position = 0;
                var state = Safetensors.LoadStateDict(memory);
                Optimizer.LoadStateDict(state);
                foreach (var t in state.Values) t.Dispose();
            }
            History.Clear();
            History.AddRange(meta.History);
            BatchLosses.Clear();
            BatchLosses.AddRange(meta.BatchLosses);
            _epochsDone = meta.Position.EpochsDone;
            _position = meta.Position;
            return meta;
        }
        catch (Exception e) when (e is InvalidDataException or JsonException)
        {
            throw new LumenException($"--resume: '{path}' is not a valid Lumen checkpoint ({e.Message})", e);
        }
    }

    private static ZipArchiveEntry Entry(ZipArchive zip, string name, string path) =>
        zip.GetEntry(name) ?? throw new LumenException($"--resume: '{path}' is not a Lumen checkpoint (no {name})");

    private static readonly JsonSerializerOptions CheckpointJson = new() { WriteIndented = true, IncludeFields = false };
}
