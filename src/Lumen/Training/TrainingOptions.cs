namespace Lumen.Training;

/// <summary>Training settings beyond the data and model, with fastai's defaults.</summary>
public sealed record TrainingOptions
{
    /// <summary>Decoupled weight decay (not applied to biases and BatchNorm parameters).</summary>
    public double WeightDecay { get; init; } = 1e-2;

    /// <summary>
    /// Keep BatchNorm layers of a frozen body trainable (fastai's train_bn=True). When false, a frozen
    /// body runs in inference mode without autograd, much faster; with augmentation off, its features
    /// are computed once and cached for the whole frozen phase.
    /// </summary>
    public bool TrainBn { get; init; } = true;

    /// <summary>Label smoothing ε for cross-entropy (fastai uses 0.1 when enabled); 0 = off.</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>Segmentation: weight of the soft Dice term added to the pixels' cross-entropy; 0 = cross-entropy alone.</summary>
    public double DiceWeight { get; init; }

    /// <summary>Weight the loss by inverse class frequency (single-label).</summary>
    public bool ClassWeights { get; init; }

    /// <summary>Oversample rare classes: draw training items with probability ∝ 1 / class size.</summary>
    public bool Oversample { get; init; }

    /// <summary>Metrics; null for the task's (<see cref="Tasks.ImageTask.DefaultMetrics"/>).</summary>
    public IReadOnlyList<IMetric>? Metrics { get; init; }
}
