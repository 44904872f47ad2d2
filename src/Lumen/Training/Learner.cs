using Lumen.Data;
using Lumen.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>Training diverged (the loss became NaN or infinite).</summary>
public sealed class TrainingDivergedException(string message) : LumenException(message);

/// <summary>Where a fit is: its phase, the epoch within it, the batch within that epoch, and epochs done in all.</summary>
public sealed record FitPosition(FitPhase Phase, int EpochInFit, int Batch, int EpochsDone);

/// <summary>
/// Trains a <see cref="VisionModel"/> on <see cref="ImageDataLoaders"/> (fastai's Learner): the loop and
/// its events. Everything else is a callback or a class beside it: schedules (<see cref="ParamScheduler"/>,
/// <see cref="OneCycle"/>, <see cref="FineTuning"/>), the <see cref="Recorder"/>, <see cref="MixUp"/>, <see cref="WeightAveraging"/>, <see cref="ProgressiveResizing"/>, the
/// LR finder, checkpoints, progress, early stopping; the learner holds the ones it is given and the
/// recorder, and never builds a callback from options. Seeded: every batch reseeds torch's generator from
/// (seed, epoch, batch), so reruns and resumed runs give the same weights; the generator's previous
/// state is restored when a fit ends.
/// </summary>
public sealed partial class Learner : IDisposable
{
    private readonly List<ICallback> _fitCallbacks = new();
    private readonly List<ICallback> _builtIn = new();
    private readonly ProgressCallback _progress = new();
    private FitPosition? _resumeAt;
    private Func<ICallback, bool> _removed = _ => false;

    /// <summary>Creates a learner. The data is re-normalised for the model's pretrained weights.</summary>
    /// <param name="data">The data.</param>
    /// <param name="model">The model.</param>
    /// <param name="loss">The loss; null for the data's task's (<see cref="Tasks.ImageTask.DefaultLoss"/>).</param>
    /// <param name="options">Optimiser, loss and sampling settings.</param>
    /// <param name="callbacks">Callbacks for every fit (MixUp, weight averaging, early stopping, …): the start of <see cref="Callbacks"/>.</param>
    public Learner(ImageDataLoaders data, VisionModel model, Loss? loss = null, TrainingOptions? options = null, IEnumerable<ICallback>? callbacks = null)
    {
        Options = options ?? new TrainingOptions();
        Data = data.WithNormalization(model.Normalization);
        if (Options.Oversample) Data = Data.WithTrain(Data.Train.WithClassBalancedSampling());
        Model = model;
        Loss = loss ?? Data.Task.DefaultLoss(Data.Train.Items, Data.Vocab, Options);
        Metrics = Options.Metrics ?? Data.Task.DefaultMetrics(Data.Vocab.Count);
        Seed = Data.Options.Seed;
        Groups = model.LayerGroups();
        Optimizer = new AdamW(Groups, Options.WeightDecay);
        Recorder = new Recorder();
        _builtIn.Add(Recorder);
        _builtIn.Add(FeatureCache = new FrozenFeatureCache());
        if (callbacks is not null) Callbacks.AddRange(callbacks);
        ResetHooks();
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

    /// <summary>The run seed (the data's).</summary>
    public int Seed { get; }

    /// <summary>The callbacks of every fit, after the learner's own at equal <see cref="ICallback.Order"/>.</summary>
    public List<ICallback> Callbacks { get; } = new();

    /// <summary>Keeps the smoothed losses and the epoch table.</summary>
    public Recorder Recorder { get; }

    /// <summary>One row per finished epoch.</summary>
    public IReadOnlyList<EpochRecord> History => Recorder.History;

    /// <summary>Smoothed training loss after every batch (for the loss curve).</summary>
    public IReadOnlyList<double> BatchLosses => Recorder.BatchLosses;

    /// <summary>Receives per-epoch progress (batches) and each epoch's summary line.</summary>
    public IProgressReporter Progress { get; set; } = NullProgress.Instance;

    /// <summary>When cancelled, training finishes the current batch and stops (<see cref="Interrupted"/>).</summary>
    public CancellationToken Cancellation { get; set; }

    internal FrozenFeatureCache FeatureCache { get; }

    /// <summary>Stops the fit after the current batch (or, called after an epoch, before the next one).</summary>
    public void Stop(string reason) => StopReason ??= reason;

    /// <summary>Trains <paramref name="epochs"/> epochs at constant learning rates (momentum 0.9).</summary>
    public void Fit(int epochs, LearningRates lr) => Fit(epochs, new[] { new ParamScheduler((_, g) => (lr.ForGroups(Groups.Count)[g], 0.9)) });

    /// <summary>fastai's <c>lr_find</c> (see <see cref="LrFinder"/>); the model and optimiser are restored afterwards.</summary>
    public LrFindResult LrFind(double start = 1e-7, double end = 10, int iterations = 100) => LrFinder.Run(this, start, end, iterations);

    /// <summary>
    /// The loop: <paramref name="epochs"/> epochs of training batches then validation, raising every
    /// event on <paramref name="callbacks"/> (this fit's, e.g. its schedule), the learner's own callbacks
    /// and <see cref="Callbacks"/> (less those a <see cref="WithoutCallbacks"/> scope removes), by
    /// <see cref="ICallback.Order"/>. <paramref name="from"/> continues a checkpointed fit at its exact batch.
    /// </summary>
    /// <exception cref="CallbackException">A callback failed with an error other than a <see cref="LumenException"/>.</exception>
    public void Fit(int epochs, IEnumerable<ICallback> callbacks, FitPosition? from = null, FitPhase phase = FitPhase.Fit)
    {
        if (epochs < 1) throw new LumenException($"the number of epochs must be at least 1, got {epochs}");
        _fitCallbacks.Clear();
        _fitCallbacks.AddRange(callbacks);
        _resumeAt = from;
        (StopReason, Interrupted, EpochsInFit) = (null, false, epochs);
        Position = from ?? new FitPosition(phase, 0, 0, Position.EpochsDone);
        using var rng = new GeneratorStateScope();
        ResetHooks();
        try
        {
            Event(nameof(ICallback.BeforeFit), c => c.BeforeFit(this));
            _resumeAt = null;
            for (int e = Position.EpochInFit; e < epochs && StopReason is null; e++)
            {
                Position = Position with { EpochInFit = e };
                Event(nameof(ICallback.BeforeEpoch), c => c.BeforeEpoch(this));
                if (!TrainEpoch()) break;
                ValidateEpoch();
                Position = Position with { EpochInFit = e + 1, Batch = 0, EpochsDone = Position.EpochsDone + 1 };
                Event(nameof(ICallback.AfterEpoch), c => c.AfterEpoch(this));
            }
        }
        finally
        {
            Event(nameof(ICallback.AfterFit), c => c.AfterFit(this));
            _fitCallbacks.Clear();
            ResetHooks();
        }
    }

    /// <summary>One epoch's training batches; false when interrupted or stopped mid-epoch.</summary>
    private bool TrainEpoch()
    {
        Model.train();
        if (BodyWithoutGrad) Model.Body.eval();
        Training = true;
        Event(nameof(ICallback.BeforeTrain), c => c.BeforeTrain(this));
        int batches = Data.Train.BatchCount;
        foreach (var (x, y) in TrainingBatches(Epoch, Batch))
        {
            using (var scope = NewDisposeScope())
            {
                torch.manual_seed(Seeds.Derive(Seed, SeedStream.TrainingStep, Epoch, Batch));
                (X, Y) = (x, y);
                TrainBatch();
            }
            x.Dispose();
            y.Dispose();
            Position = Position with { Batch = Batch + 1 };
            Event(nameof(ICallback.AfterBatch), c => c.AfterBatch(this));
            // A stop asked during the batches ends the fit at once (no validation, as fastai's
            // CancelFitException); Ctrl+C after the last batch still lets the epoch finish.
            if (StopReason is not null) return false;
            if (Cancellation.IsCancellationRequested && Batch < batches)
            {
                (Interrupted, StopReason) = (true, "interrupted");
                return false;
            }
        }
        Event(nameof(ICallback.AfterTrain), c => c.AfterTrain(this));
        return true;
    }

    // fastai's _do_one_batch.
    private void TrainBatch()
    {
        Event(nameof(ICallback.BeforeBatch), c => c.BeforeBatch(this));
        Pred = Forward(X);
        Event(nameof(ICallback.AfterPred), c => c.AfterPred(this));
        LossTensor = TrainingLoss(Pred, Y);
        Event(nameof(ICallback.AfterLoss), c => c.AfterLoss(this));
        LossValue = LossTensor.item<float>();
        if (double.IsNaN(LossValue) || double.IsInfinity(LossValue))
            throw new TrainingDivergedException($"training diverged: the loss became {LossValue} at epoch {Epoch + 1}, batch {Batch + 1} (learning rate {Optimizer.LearningRates[^1]:G3}). Try a lower learning rate (the LR finder suggests one), check the data for broken images, or turn off MixUp.");
        Optimizer.ZeroGrad();
        LossTensor.backward();
        Event(nameof(ICallback.AfterBackward), c => c.AfterBackward(this));
        Optimizer.Step();
        Event(nameof(ICallback.AfterStep), c => c.AfterStep(this));
    }

    /// <summary>Validates the epoch; without a validation set (valid-pct 0) the loss is NaN and there are no metrics.</summary>
    private void ValidateEpoch()
    {
        Training = false;
        Event(nameof(ICallback.BeforeValidate), c => c.BeforeValidate(this));
        if (!HasValidation) (ValidLoss, ValidMetrics) = (double.NaN, new Dictionary<string, double>());
        else
        {
            using var predictions = ValidationPredictions();
            using var scope = NewDisposeScope();
            ValidLoss = predictions.Losses.mean().item<float>();
            ValidMetrics = Metrics.ToDictionary(m => m.Name, m => m.Compute(predictions.Logits, predictions.Targets));
        }
        Event(nameof(ICallback.AfterValidate), c => c.AfterValidate(this));
    }

    /// <summary>False when the data has no validation images (trained on every image): epochs have no valid_loss or metrics.</summary>
    public bool HasValidation => Data.Valid.Items.Count > 0;

    /// <summary>Every callback taking part, in calling order: by <see cref="ICallback.Order"/>, then this fit's, the learner's own, <see cref="Callbacks"/>.</summary>
    internal IEnumerable<ICallback> AllCallbacks =>
        _fitCallbacks.Concat(_builtIn.Concat(Callbacks).Append(_progress).Where(c => !_removed(c))).OrderBy(c => c.Order);

    /// <summary>
    /// Leaves out, until the scope is disposed, the learner's callbacks that <paramref name="remove"/>
    /// selects (fastai's <c>removed_cbs</c>): the LR finder trains without the recorder, checkpoints and
    /// progress, but with MixUp. A fit's own callbacks always take part.
    /// </summary>
    public IDisposable WithoutCallbacks(Func<ICallback, bool> remove)
    {
        var outer = _removed;
        _removed = c => outer(c) || remove(c);
        return new Scope(() => _removed = outer);
    }

    private sealed class Scope(Action end) : IDisposable
    {
        public void Dispose() => end();
    }

    private void Event(string name, Action<ICallback> raise)
    {
        foreach (var callback in AllCallbacks.ToList())
        {
            try
            {
                raise(callback);
            }
            catch (Exception e) when (e is not (LumenException or CallbackException or OperationCanceledException))
            {
                throw new CallbackException(callback, name, e);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        FeatureCache.Release();
        Model.Dispose();
    }
}
