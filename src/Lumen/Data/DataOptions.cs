using Lumen.Imaging;
using Lumen.Augment;

namespace Lumen.Data;

/// <summary>
/// Everything that turns a folder of images into batches, with fastai's defaults
/// (<c>ImageDataLoaders.from_folder</c>, <c>Resize(224)</c>, <c>aug_transforms()</c>, bs=64).
/// </summary>
public sealed record DataOptions
{
    /// <summary>Fraction of each class held out for validation when the folder has no train/valid split.</summary>
    public double ValidPct { get; init; } = 0.2;

    /// <summary>Seed for the split, shuffling, crops and augmentation.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>A CSV of labels (file,label[,is_valid]) instead of folder-per-class labels.</summary>
    public string? CsvPath { get; init; }

    /// <summary>Labels from file names: a regular expression whose group 1 is the label (e.g. <c>^(.+)_\d+\.jpg$</c>).</summary>
    public string? LabelRegex { get; init; }

    /// <summary>Force multi-label (true) or single-label (false) CSV data; null decides from the rows.</summary>
    public bool? MultiLabel { get; init; }

    /// <summary>Name of the training sub-folder that, with <see cref="ValidFolder"/>, fixes the split.</summary>
    public string TrainFolder { get; init; } = "train";

    /// <summary>Name of the validation sub-folder.</summary>
    public string ValidFolder { get; init; } = "valid";

    /// <summary>Side of the square images fed to the model.</summary>
    public int Size { get; init; } = 224;

    /// <summary>How images reach the square size.</summary>
    public ResizeMethod ResizeMethod { get; init; } = ResizeMethod.Crop;

    /// <summary>Fill used by <see cref="ResizeMethod.Pad"/>.</summary>
    public PadMode PadMode { get; init; } = PadMode.Reflection;

    /// <summary>When set, training crops with RandomResizedCrop(min_scale) instead of a plain resize.</summary>
    public double? MinScale { get; init; }

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Threads decoding images in parallel.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>Batches decoded ahead of the consumer (bounds memory).</summary>
    public int Prefetch { get; init; } = 2;

    /// <summary>Keep decoded, shrunk images in memory after the first epoch (fast, costs RAM).</summary>
    public bool CacheImages { get; init; }

    /// <summary>Batch augmentation for training; validation is never augmented.</summary>
    public AugmentOptions Augment { get; init; } = AugmentOptions.Default;

    /// <summary>Input normalisation; belongs to the model's pretrained weights.</summary>
    public Normalization Normalization { get; init; } = Normalization.ImageNet;

    /// <summary>The deterministic preprocessing these options describe (validation, evaluation, serving).</summary>
    public Preprocessing Preprocessing => new(Size, ResizeMethod, PadMode, Normalization);

    /// <summary>The item transform these options describe.</summary>
    public ItemTransform ItemTransform => new(Size, ResizeMethod, PadMode, MinScale);

    /// <summary>Checks every option, naming the offending one.</summary>
    /// <exception cref="LumenException">An option is out of range.</exception>
    public void Validate()
    {
        if (BatchSize < 1) throw new OptionException(nameof(BatchSize), $"must be at least 1, got {BatchSize}");
        if (Workers < 1) throw new LumenException($"workers must be at least 1, got {Workers}");
        if (Prefetch < 1) throw new LumenException($"prefetch must be at least 1, got {Prefetch}");
        if (!(ValidPct > 0 && ValidPct < 1)) throw new OptionException(nameof(ValidPct), $"must be between 0 and 1 (exclusive), got {ValidPct}");
        _ = ItemTransform;
        Augment.Validate();
    }
}
