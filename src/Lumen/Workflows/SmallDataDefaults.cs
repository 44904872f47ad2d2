namespace Lumen.Workflows;

/// <summary>
/// The batch size and epochs <see cref="TrainWorkflow"/> picks when the request leaves them open, from
/// the number of training images: a small set needs enough optimiser steps per epoch and in all to be
/// learnt (fastai's fixed bs 64 gives 384 images 6 steps an epoch); large sets get fastai's bs 64 and 4
/// epochs. Chosen by cross-validation: bench/results/cv-rank-128.txt (batch size, 128 px) and
/// bench/results/cv-5fold-224-e12.txt (epochs, 224 px), both from bench/experiments/cv-ablation.sh.
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
