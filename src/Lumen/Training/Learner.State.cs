using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>The moment of training, for callbacks to read and change.</summary>
public sealed partial class Learner
{
    /// <summary>The current position (after a fit: where it ended).</summary>
    public FitPosition Position { get; private set; } = new(FitPhase.Fit, 0, 0, 0);

    /// <summary>Epochs of the current fit.</summary>
    public int EpochsInFit { get; private set; }

    /// <summary>The global (0-based) number of the current epoch.</summary>
    public int Epoch => Position.EpochsDone;

    /// <summary>The batch within the current epoch.</summary>
    public int Batch => Position.Batch;

    /// <summary>Fraction of the current fit's training batches done (what schedules follow).</summary>
    public double PctTrain => (double)((long)Position.EpochInFit * Data.Train.BatchCount + Position.Batch) / ((long)EpochsInFit * Data.Train.BatchCount);

    /// <summary>True during training batches, false during validation.</summary>
    public bool Training { get; private set; }

    /// <summary>True while a fit continues from a checkpoint (callbacks keep their restored state in <see cref="ICallback.BeforeFit"/>).</summary>
    public bool Resuming => _resumeAt is not null;

    /// <summary>The batch's inputs (callbacks may replace them in <see cref="ICallback.BeforeBatch"/>).</summary>
    public Tensor X { get; set; } = null!;

    /// <summary>The batch's targets.</summary>
    public Tensor Y { get; set; } = null!;

    /// <summary>The batch's outputs.</summary>
    public Tensor Pred { get; set; } = null!;

    /// <summary>The training batch's loss tensor (callbacks may replace it in <see cref="ICallback.AfterLoss"/>).</summary>
    public Tensor LossTensor { get; set; } = null!;

    /// <summary>The training batch's loss as a number.</summary>
    public double LossValue { get; private set; }

    /// <summary>The forward pass of training batches (a callback may swap it for a fit).</summary>
    public Func<Tensor, Tensor> Forward { get; set; }

    /// <summary>The training loss of outputs and targets (MixUp swaps it while training).</summary>
    public Func<Tensor, Tensor, Tensor> TrainingLoss { get; set; }

    /// <summary>The inputs and targets of an epoch's training batches from a batch on (the feature cache swaps it).</summary>
    public Func<int, int, IEnumerable<(Tensor X, Tensor Y)>> TrainingBatches { get; set; }

    /// <summary>An epoch's validation predictions, in validation-item order (data-parallel training swaps it to split the work across processes).</summary>
    public Func<Predictions> ValidationPredictions { get; set; }

    /// <summary>Validation loss of the epoch (set before <see cref="ICallback.AfterValidate"/>).</summary>
    public double ValidLoss { get; private set; }

    /// <summary>Validation metrics of the epoch.</summary>
    public IReadOnlyDictionary<string, double> ValidMetrics { get; private set; } = new Dictionary<string, double>();

    /// <summary>Why the last fit stopped early (early stopping, a callback, interruption), or null.</summary>
    public string? StopReason { get; private set; }

    /// <summary>True when the last fit ended because <see cref="Cancellation"/> was triggered.</summary>
    public bool Interrupted { get; private set; }

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(Forward), nameof(TrainingLoss), nameof(TrainingBatches), nameof(ValidationPredictions))]
    private void ResetHooks()
    {
        ValidationPredictions = () => Predict(Data.Valid, inFit: true);
        Forward = x => Model.Forward(x, BodyWithoutGrad);
        TrainingLoss = (pred, y) => Loss.Mean(pred, y);
        TrainingBatches = (epoch, start) => Data.Train.Batches(epoch, start).Select(b => (b.Images, b.Targets));
    }
}
