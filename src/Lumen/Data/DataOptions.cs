using Lumen.Augment;

namespace Lumen.Data;

/// <summary>
/// How labelled images become batches, by concern, with fastai's defaults: the random split
/// (<c>valid_pct</c>, <c>seed</c>), the item transform (<c>item_tfms=Resize(224)</c>), the batch
/// augmentation (<c>batch_tfms=aug_transforms()</c>), the loader (<c>bs=64</c>) and the weights'
/// normalisation. Where images and labels come from is the constructor's concern
/// (<see cref="ImageDataLoaders.FromFolder"/>, <see cref="ImageDataLoaders.FromCsv"/>, …).
/// </summary>
public sealed record DataOptions
{
    /// <summary>
    /// Split: the fraction of each class held out for validation when the source fixes no split; 0
    /// trains on every image (once a recipe has been chosen by cross-validation) and reports no
    /// validation metrics.
    /// </summary>
    public double ValidPct { get; init; } = 0.2;

    /// <summary>The run's seed: the split, shuffling, random crops, augmentation and training draw from it.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Item transform: how each image reaches the model's square size (fastai's <c>item_tfms</c>).</summary>
    public ItemTransform Item { get; init; } = new(224);

    /// <summary>Batch augmentation for training (fastai's <c>batch_tfms</c>); validation is never augmented.</summary>
    public AugmentOptions Augment { get; init; } = AugmentOptions.Default;

    /// <summary>Batching and decoding: batch size, workers, prefetch, cache.</summary>
    public LoaderOptions Loader { get; init; } = new();

    /// <summary>Input normalisation; belongs to the model's pretrained weights.</summary>
    public Normalization Normalization { get; init; } = Normalization.ImageNet;

    /// <summary>The deterministic preprocessing these options describe (validation, evaluation, serving).</summary>
    public Preprocessing Preprocessing => new(Item.Size, Item.Method, Item.PadMode, Normalization);

    /// <summary>Checks every option, naming the offending one.</summary>
    /// <exception cref="OptionException">An option is out of range.</exception>
    public void Validate()
    {
        if (!(ValidPct >= 0 && ValidPct < 1)) throw new OptionException(OptionName.ValidPct, $"must be at least 0 and below 1 (0: train on every image, no validation), got {ValidPct}");
        Loader.Validate();
        Augment.Validate();
    }
}

/// <summary>How batches are assembled (fastai's DataLoader settings).</summary>
public sealed record LoaderOptions
{
    /// <summary>fastai's batch size, used when <see cref="BatchSize"/> is left open outside training workflows.</summary>
    public const int DefaultBatchSize = 64;

    /// <summary>
    /// Images per batch; null leaves it to the consumer: <c>TrainWorkflow</c> (lumen train, cv) chooses
    /// it from the number of training images, everything else uses <see cref="DefaultBatchSize"/>.
    /// </summary>
    public int? BatchSize { get; init; }

    /// <summary>Threads decoding images in parallel.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>Batches decoded ahead of the consumer (bounds memory).</summary>
    public int Prefetch { get; init; } = 2;

    /// <summary>Keep decoded, shrunk images in memory after the first epoch (fast, costs RAM).</summary>
    public bool CacheImages { get; init; }

    /// <summary>Checks every setting, naming the offending one.</summary>
    /// <exception cref="OptionException">A setting is out of range.</exception>
    public void Validate()
    {
        if (BatchSize is < 1) throw new OptionException(OptionName.BatchSize, $"must be at least 1, got {BatchSize}");
        if (Workers < 1) throw new OptionException(OptionName.Workers, $"must be at least 1, got {Workers}");
        if (Prefetch < 1) throw new OptionException(OptionName.Prefetch, $"must be at least 1, got {Prefetch}");
    }
}
