namespace Lumen.Workflows;

/// <summary>
/// The batch size and epochs <see cref="TrainWorkflow"/> picks when the request leaves them open,
/// from the number of training images. fastai's fixed bs 64 gives a few hundred images only a
/// handful of optimiser steps per epoch (6 for 384 images: the frozen epoch barely moves the head),
/// and few steps leave a small set half learnt. Chosen by 3-fold cross-validation on the 480-image
/// brain-MRI sample at 128 px (bench/results/cv-rank-128.txt, bench/experiments/cv-ablation.sh):
/// accuracy 0.740 at bs 64 × 4 epochs, 0.798 at bs 32 × 4, 0.860 at bs 16 × 4. The number of steps
/// mattered less at 128 px (bs 16 × 12: 0.858), but at 224 px 5-fold cross-validation gave 12 epochs
/// (288 steps) 0.913 ± 0.026 against 0.900 ± 0.035 for 7 (168 steps), better on 4 folds of 5
/// (bench/results/cv-5fold-224-e12.txt), and on the 6,113-image held-out set fastai's fine_tune(12)
/// beat fine_tune(4) by 2.6 points. Large sets get fastai's bs 64 and 4 epochs.
/// </summary>
public static class SmallDataDefaults
{
    /// <summary>Fewest optimiser steps an epoch should have: the batch size shrinks (to 8 at least) until it has them.</summary>
    public const int MinStepsPerEpoch = 20;

    /// <summary>Optimiser steps the unfrozen phase aims at, spread over 4 to <see cref="MaxEpochs"/> epochs.</summary>
    public const int TargetSteps = 288;

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
