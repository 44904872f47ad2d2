namespace Lumen.Training;

/// <summary>
/// The optional training callbacks a recipe asks for, as values with fastai's defaults, so that a
/// workflow can build fresh ones for every learner it trains (each fold, each ensemble member). The
/// learner never reads these: hosts and workflows pass <see cref="Build"/>'s callbacks to it.
/// </summary>
public sealed record CallbackOptions
{
    /// <summary>MixUp α (fastai: 0.4); 0 = off.</summary>
    public double MixUpAlpha { get; init; }

    /// <summary>Decay of an exponential moving average of the weights (<see cref="WeightAveraging"/>; 0.99 when enabled); 0 = off.</summary>
    public double WeightAveragingDecay { get; init; }

    /// <summary>
    /// Progressive resizing (<see cref="ProgressiveResizing"/>): the training size of each fit's first epoch,
    /// growing to the data's size over <see cref="ProgressiveRampFraction"/> of its epochs; null = off.
    /// </summary>
    public int? ProgressiveStartSize { get; init; }

    /// <summary>With <see cref="ProgressiveStartSize"/>: the fraction of each fit's epochs trained below the data's size.</summary>
    public double ProgressiveRampFraction { get; init; } = 0.5;

    /// <summary>New callbacks for one learner training at <paramref name="size"/> pixels.</summary>
    /// <exception cref="OptionException">A value is out of range (progressive resizing must start below <paramref name="size"/>).</exception>
    public IReadOnlyList<ICallback> Build(int size)
    {
        var callbacks = new List<ICallback>();
        if (MixUpAlpha > 0) callbacks.Add(new MixUp(MixUpAlpha));
        if (WeightAveragingDecay > 0) callbacks.Add(new WeightAveraging(WeightAveragingDecay));
        if (ProgressiveResizing.For(this, size) is { } resizing) callbacks.Add(resizing);
        return callbacks;
    }
}
