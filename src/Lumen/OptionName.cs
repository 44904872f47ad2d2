namespace Lumen;

/// <summary>
/// Every option the library can name in an <see cref="OptionException"/>: hosts map each to what their
/// users type (the CLI to its flags, with a test that none is missing), so a message reads as the user
/// wrote the command.
/// </summary>
public enum OptionName
{
    /// <summary>The network (resnet18, resnet34, …).</summary>
    Architecture,

    /// <summary>The augmentation preset or settings.</summary>
    Augment,

    /// <summary>Images per batch.</summary>
    BatchSize,

    /// <summary>The boxes of a detection (a file or folder).</summary>
    Boxes,

    /// <summary>The time a budgeted run may take.</summary>
    Budget,

    /// <summary>The file naming a segmentation's classes (codes.txt or a class_dict.csv colour map).</summary>
    Codes,

    /// <summary>Images shown in a batch grid.</summary>
    Count,

    /// <summary>Weight of the soft Dice term in a segmentation's loss.</summary>
    DiceWeight,

    /// <summary>Threads decoding images ahead of bulk prediction.</summary>
    DecodeWorkers,

    /// <summary>Where tensors live (cpu, cuda, cuda:1).</summary>
    Device,

    /// <summary>The inference engine (auto, onnx, torch).</summary>
    Engine,

    /// <summary>Unfrozen epochs.</summary>
    Epochs,

    /// <summary>The cross-validation fold a splitter holds out.</summary>
    Fold,

    /// <summary>Cross-validation folds.</summary>
    Folds,

    /// <summary>Frozen epochs before unfreezing.</summary>
    FreezeEpochs,

    /// <summary>The pattern whose first group is a file name's label.</summary>
    LabelRegex,

    /// <summary>Label smoothing ε.</summary>
    LabelSmoothing,

    /// <summary>Batches prepared ahead of bulk prediction.</summary>
    Lookahead,

    /// <summary>The base learning rate.</summary>
    Lr,

    /// <summary>Largest brightness and contrast change.</summary>
    MaxLighting,

    /// <summary>Most ensemble members a budget may train.</summary>
    MaxMembers,

    /// <summary>Largest rotation in degrees.</summary>
    MaxRotate,

    /// <summary>Largest perspective warp.</summary>
    MaxWarp,

    /// <summary>The folder of segmentation masks.</summary>
    Masks,

    /// <summary>Boxes a detector keeps per image.</summary>
    MaxDetections,

    /// <summary>The overlap above which non-maximum suppression drops the lower-scoring box.</summary>
    NmsIou,

    /// <summary>Models trained per cross-validation fold.</summary>
    Members,

    /// <summary>Smallest area fraction of a random resized crop.</summary>
    MinScale,

    /// <summary>Smallest zoom factor.</summary>
    MinZoom,

    /// <summary>Where a run writes.</summary>
    OutputFolder,

    /// <summary>Probability of the affine augmentations.</summary>
    PAffine,

    /// <summary>Probability of a flip.</summary>
    PFlip,

    /// <summary>Probability of the lighting change.</summary>
    PLighting,

    /// <summary>The inference number format (float32, bfloat16, int8).</summary>
    Precision,

    /// <summary>Batches decoded ahead of training.</summary>
    Prefetch,

    /// <summary>The fraction of epochs progressive resizing trains below full size.</summary>
    ProgressiveRampFraction,

    /// <summary>Progressive resizing's first training size.</summary>
    ProgressiveStartSize,

    /// <summary>Continue an interrupted run.</summary>
    Resume,

    /// <summary>Keep the epoch with the lowest valid_loss.</summary>
    SaveBest,

    /// <summary>The score below which a detector's boxes are dropped.</summary>
    ScoreThreshold,

    /// <summary>A process's part of every batch in data-parallel training.</summary>
    Shard,

    /// <summary>The image side in pixels.</summary>
    Size,

    /// <summary>Which images a model is scored on (all, valid, unseen).</summary>
    Split,

    /// <summary>CPU threads.</summary>
    Threads,

    /// <summary>Classes listed per prediction.</summary>
    Top,

    /// <summary>Test-time augmentation passes.</summary>
    Tta,

    /// <summary>The validation fraction of a random split.</summary>
    ValidPct,

    /// <summary>The pretrained weights (default, imagenet, none, a .pth file).</summary>
    Weights,

    /// <summary>Threads decoding training images.</summary>
    Workers,
}
