namespace Lumen.Workflows;

/// <summary>
/// The batch size and epochs <see cref="TrainWorkflow"/> picks when the request leaves them open,
/// from the number of training images. fastai's fixed bs 64 gives a few hundred images only a
/// handful of optimiser steps per epoch (6 for 384 images: the frozen epoch barely moves the head),
/// and few steps leave a small set half learnt. Chosen by 3-fold cross-validation on the 480-image
/// brain-MRI sample at 128 px (bench/results/cv-rank-128.txt, bench/experiments/cv-ablation.sh):
/// accuracy 0.740 at bs 64 × 4 epochs, 0.798 at bs 32 × 4, 0.860 at bs 16 × 4, and no clear gain
/// beyond about 150 steps (bs 32 × 12: 0.862; bs 16 × 12: about the same). Large sets get fastai's
/// bs 64 and 4 epochs.
/// </summary>
public static class SmallDataDefaults
{
    /// <summary>Fewest optimiser steps an epoch should have: the batch size shrinks (to 8 at least) until it has them.</summary>
    public const int MinStepsPerEpoch = 20;

    /// <summary>Optimiser steps the unfrozen phase aims at, spread over 4 to <see cref="MaxEpochs"/> epochs.</summary>
    public const int TargetSteps = 160;

    /// <summary>The most epochs chosen automatically.</summary>
    public const int MaxEpochs = 12;

    /// <summary>The largest power of two in [8, 64] that gives an epoch of <paramref name="trainImages"/> at least <see cref="MinStepsPerEpoch"/> steps.</summary>
    public static int BatchSize(int trainImages)
    {
        int bs = 64;
        while (bs > 8 && trainImages / bs < MinStepsPerEpoch) bs /= 2;
        return bs;
    }

    /// <summary>Unfrozen epochs for <paramref name="trainImages"/> at <paramref name="batchSize"/>: about <see cref="TargetSteps"/> steps, 4 to <see cref="MaxEpochs"/> epochs.</summary>
    public static int Epochs(int trainImages, int batchSize)
    {
        int stepsPerEpoch = Math.Max(1, trainImages / batchSize);
        return Math.Clamp((int)Math.Round((double)TargetSteps / stepsPerEpoch), 4, MaxEpochs);
    }
}
