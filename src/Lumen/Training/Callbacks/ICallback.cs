using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>The results of one epoch: a row of fastai's table.</summary>
/// <param name="Epoch">Epoch number within the whole training (0-based).</param>
/// <param name="Phase">fine_tune's frozen or unfrozen phase, or a plain fit.</param>
/// <param name="TrainLoss">Smoothed training loss at the end of the epoch (fastai's train_loss).</param>
/// <param name="ValidLoss">Mean validation loss.</param>
/// <param name="Metrics">Metric values by name.</param>
/// <param name="Seconds">Wall time of the epoch (training and validation).</param>
public sealed record EpochRecord(int Epoch, FitPhase Phase, double TrainLoss, double ValidLoss, IReadOnlyDictionary<string, double> Metrics, double Seconds)
{
    /// <summary>A monitored value by name: train_loss, valid_loss or a metric.</summary>
    public double Get(string name) => name switch
    {
        "train_loss" => TrainLoss,
        "valid_loss" => ValidLoss,
        _ => Metrics.TryGetValue(name, out double v) ? v : throw new LumenException($"cannot monitor '{name}': known are train_loss, valid_loss, {string.Join(", ", Metrics.Keys)}"),
    };
}

/// <summary>
/// Hooks into the training loop (fastai's callback events). Every method is optional; each receives
/// the learner, whose properties describe the moment (<see cref="Learner.Training"/>,
/// <see cref="Learner.Epoch"/>, <see cref="Learner.Batch"/>, <see cref="Learner.X"/>,
/// <see cref="Learner.Pred"/>, <see cref="Learner.LossTensor"/>, <see cref="Learner.History"/>…) and
/// may be changed (replace <see cref="Learner.X"/> before the forward pass, call
/// <see cref="Learner.Stop"/>). Validation batches raise <see cref="BeforeBatch"/>,
/// <see cref="AfterPred"/> and <see cref="AfterBatch"/> too, with <see cref="Learner.Training"/> false.
/// </summary>
public interface ICallback
{
    /// <summary>
    /// When this callback runs among the others (fastai's <c>order</c>): lower first; equal orders run
    /// in the order the callbacks were given (this fit's, the learner's own, then <see cref="Learner.Callbacks"/>).
    /// Schedules run at <see cref="CallbackOrder.Schedule"/>, the recorder at <see cref="CallbackOrder.Recorder"/>,
    /// the progress display last.
    /// </summary>
    int Order => CallbackOrder.Default;

    /// <summary>Before a fit (one call of Fit, FitOneCycle or a fine_tune phase) starts.</summary>
    void BeforeFit(Learner learner) { }

    /// <summary>Before each epoch.</summary>
    void BeforeEpoch(Learner learner) { }

    /// <summary>Before the training batches of an epoch.</summary>
    void BeforeTrain(Learner learner) { }

    /// <summary>Before the forward pass of a batch; <see cref="Learner.X"/> and <see cref="Learner.Y"/> may be replaced.</summary>
    void BeforeBatch(Learner learner) { }

    /// <summary>After the forward pass; <see cref="Learner.Pred"/> holds the outputs.</summary>
    void AfterPred(Learner learner) { }

    /// <summary>After the loss of a training batch is computed (<see cref="Learner.LossTensor"/>).</summary>
    void AfterLoss(Learner learner) { }

    /// <summary>After the backward pass (gradients are available).</summary>
    void AfterBackward(Learner learner) { }

    /// <summary>After the optimiser step.</summary>
    void AfterStep(Learner learner) { }

    /// <summary>After each batch (<see cref="Learner.LossValue"/> is a training batch's unsmoothed loss).</summary>
    void AfterBatch(Learner learner) { }

    /// <summary>After the training batches of an epoch.</summary>
    void AfterTrain(Learner learner) { }

    /// <summary>Before the validation of an epoch.</summary>
    void BeforeValidate(Learner learner) { }

    /// <summary>After validation: <see cref="Learner.ValidLoss"/> and <see cref="Learner.ValidMetrics"/> are set.</summary>
    void AfterValidate(Learner learner) { }

    /// <summary>After each epoch; its row is <c>learner.History[^1]</c>.</summary>
    void AfterEpoch(Learner learner) { }

    /// <summary>After a fit ends: normally, stopped (<see cref="Learner.StopReason"/>) or interrupted.</summary>
    void AfterFit(Learner learner) { }
}

/// <summary>The orders of Lumen's own callbacks (see <see cref="ICallback.Order"/>).</summary>
public static class CallbackOrder
{
    /// <summary>Learning-rate and momentum schedules: they set the step's rates before anything reads them.</summary>
    public const int Schedule = -20;

    /// <summary>The recorder: a finished epoch is in <see cref="Learner.History"/> before other callbacks look.</summary>
    public const int Recorder = -10;

    /// <summary>Callbacks that say nothing.</summary>
    public const int Default = 0;

    /// <summary>The progress display, after every callback that may stop the fit.</summary>
    public const int Progress = 100;
}

/// <summary>
/// A callback failed: <see cref="Exception.InnerException"/> is what it threw. User errors
/// (<see cref="LumenException"/>) pass through unwrapped; this names the callback and the event of a bug.
/// </summary>
public sealed class CallbackException(ICallback callback, string eventName, Exception inner)
    : Exception($"callback {callback.GetType().Name} failed in {eventName}: {inner.Message}", inner)
{
    /// <summary>The callback that threw.</summary>
    public ICallback Callback { get; } = callback;

    /// <summary>The event it was handling (BeforeFit, AfterBatch, …).</summary>
    public string Event { get; } = eventName;
}

/// <summary>What a callback keeps in a checkpoint: JSON, and tensors (weights) if it holds any.</summary>
/// <param name="Json">Plain values.</param>
/// <param name="Tensors">Named tensors (CPU), or null.</param>
public sealed record CallbackState(JsonNode Json, IReadOnlyDictionary<string, Tensor>? Tensors = null);

/// <summary>
/// A callback whose state survives <c>--resume</c>: checkpoints store <see cref="SaveState"/> under
/// <see cref="StateKey"/>, and resuming hands it back to the callback with the same key before training continues.
/// </summary>
public interface IStatefulCallback : ICallback
{
    /// <summary>A name unique among the learner's callbacks (letters, digits, '_' and '-').</summary>
    string StateKey { get; }

    /// <summary>The state to checkpoint.</summary>
    CallbackState SaveState();

    /// <summary>Restores a state written by <see cref="SaveState"/> (its tensors are disposed afterwards: clone what you keep).</summary>
    void LoadState(CallbackState state);
}

/// <summary>
/// Marks a callback that changes the training images themselves before the forward pass (MixUp,
/// CutMix). Shortcuts that feed the model something other than images, such as the frozen-body
/// feature cache, step aside while such a callback takes part in a fit.
/// </summary>
public interface IAltersTrainingImages : ICallback;
