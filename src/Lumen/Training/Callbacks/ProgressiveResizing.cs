using Lumen.Data;
using static TorchSharp.torch;
using DataLoader = Lumen.Data.DataLoader;

namespace Lumen.Training;

/// <summary>
/// Progressive resizing (fastai's course, lesson 7): the first epochs of every fit train on smaller
/// images, whose cost grows with their pixel count. Over the first <see cref="RampFraction"/> of a
/// fit's epochs the training size grows from <see cref="StartSize"/> towards the data's size in steps
/// of 32 pixels (the ResNet's stride); the remaining epochs and every validation run at the data's own
/// size, so the epochs that decide the weights, the validation metrics and the exported model all see
/// the size the model serves at. The size depends only on the epoch within the fit, so a run resumed
/// from a checkpoint trains at the sizes an uninterrupted one would. The LR finder is left at full size.
/// </summary>
public sealed class ProgressiveResizing : IAltersTrainingImages
{
    private const int Step = 32;
    private readonly Dictionary<int, DataLoader> _loaders = new();
    private DataLoader? _loadersOf;
    private Func<int, int, IEnumerable<(Tensor X, Tensor Y)>>? _atFullSize;

    /// <summary>Creates the schedule.</summary>
    /// <param name="startSize">The training size of a fit's first epoch, in pixels (at least 32).</param>
    /// <param name="rampFraction">The fraction of each fit's epochs trained below the full size, in (0, 1).</param>
    /// <exception cref="OptionException">A value is out of range.</exception>
    public ProgressiveResizing(int startSize, double rampFraction = 0.5)
    {
        if (startSize < Step) throw new OptionException(OptionName.ProgressiveStartSize, $"must be at least {Step} pixels, got {startSize}");
        if (!(rampFraction > 0 && rampFraction < 1))
            throw new OptionException(OptionName.ProgressiveRampFraction, $"must be above 0 and below 1, got {rampFraction}");
        StartSize = startSize;
        RampFraction = rampFraction;
    }

    /// <summary>
    /// The schedule <paramref name="options"/> asks for on data of <paramref name="fullSize"/> pixels, or null
    /// when it asks for none.
    /// </summary>
    /// <exception cref="OptionException">The start size is not below the full size, or a value is out of range.</exception>
    public static ProgressiveResizing? For(CallbackOptions options, int fullSize)
    {
        if (options.ProgressiveStartSize is not { } startSize) return null;
        if (startSize >= fullSize)
            throw new OptionException(OptionName.ProgressiveStartSize, $"must be below the training size ({fullSize} px), got {startSize}");
        return new ProgressiveResizing(startSize, options.ProgressiveRampFraction);
    }

    /// <summary>The training size of a fit's first epoch.</summary>
    public int StartSize { get; }

    /// <summary>The fraction of each fit's epochs trained below the full size.</summary>
    public double RampFraction { get; }

    /// <summary>
    /// The training size of epoch <paramref name="epochInFit"/> (0-based) of a fit of <paramref name="epochs"/>
    /// epochs on data of <paramref name="fullSize"/> pixels: the first ⌊epochs × ramp fraction⌋ epochs grow
    /// linearly from the start size (rounded down to a multiple of 32, never below the start size), the rest are
    /// at full size.
    /// </summary>
    public int SizeAt(int epochInFit, int epochs, int fullSize)
    {
        int ramp = (int)Math.Floor(epochs * RampFraction);
        if (epochInFit >= ramp || StartSize >= fullSize) return fullSize;
        double size = StartSize + (fullSize - StartSize) * (double)epochInFit / ramp;
        return Math.Clamp((int)size / Step * Step, StartSize, fullSize);
    }

    void ICallback.BeforeFit(Learner learner) => _atFullSize = learner.TrainingBatches;

    void ICallback.BeforeTrain(Learner learner)
    {
        if (_atFullSize is null) return;
        var train = learner.Data.Train;
        int fullSize = train.Options.Item.Size;
        int size = SizeAt(learner.Position.EpochInFit, learner.EpochsInFit, fullSize);
        if (size == fullSize)
        {
            learner.TrainingBatches = _atFullSize;
            return;
        }
        var loader = Loader(train, size);
        learner.TrainingBatches = (epoch, start) => loader.Batches(epoch, start).Select(b => (b.Images, b.Targets));
    }

    void ICallback.AfterFit(Learner learner) => _atFullSize = null;

    // The same items, order, crops and augmentation draws as the full-size loader; only the item size differs.
    private DataLoader Loader(DataLoader train, int size)
    {
        if (!ReferenceEquals(_loadersOf, train))
        {
            _loaders.Clear();
            _loadersOf = train;
        }
        if (_loaders.TryGetValue(size, out var cached)) return cached;
        var item = train.Options.Item;
        var options = train.Options with { Item = new ItemTransform(size, item.Method, item.PadMode, item.MinScale) };
        return _loaders[size] = train.With(options);
    }
}
