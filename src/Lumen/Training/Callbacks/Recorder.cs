using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Lumen.Training;

/// <summary>
/// fastai's Recorder: the smoothed training loss (exponential moving average, β = 0.98, debiased)
/// after every batch, and one <see cref="EpochRecord"/> per epoch. Always present on a learner.
/// </summary>
public sealed class Recorder : IStatefulCallback
{
    /// <inheritdoc />
    public int Order => CallbackOrder.Recorder;

    private const double Beta = 0.98;
    private readonly List<EpochRecord> _history = new();
    private readonly List<double> _batchLosses = new();
    private readonly Stopwatch _clock = new();
    private double _smooth;
    private int _count;

    /// <summary>One row per finished epoch.</summary>
    public IReadOnlyList<EpochRecord> History => _history;

    /// <summary>Smoothed training loss after every batch.</summary>
    public IReadOnlyList<double> BatchLosses => _batchLosses;

    /// <summary>The current smoothed training loss (NaN before the first batch of a fit).</summary>
    public double SmoothLoss => _count == 0 ? double.NaN : _smooth / (1 - Math.Pow(Beta, _count));

    string IStatefulCallback.StateKey => "recorder";

    void ICallback.BeforeFit(Learner learner)
    {
        if (learner.Resuming) return;
        _smooth = 0;
        _count = 0;
    }

    void ICallback.BeforeEpoch(Learner learner) => _clock.Restart();

    void ICallback.AfterBatch(Learner learner)
    {
        if (!learner.Training) return;
        _smooth = Beta * _smooth + (1 - Beta) * learner.LossValue;
        _count++;
        _batchLosses.Add(SmoothLoss);
    }

    void ICallback.AfterValidate(Learner learner) =>
        _history.Add(new EpochRecord(learner.Epoch, learner.Position.Phase, SmoothLoss, learner.ValidLoss, learner.ValidMetrics, _clock.Elapsed.TotalSeconds));

    CallbackState IStatefulCallback.SaveState() => new(JsonSerializer.SerializeToNode(new State(_history, _batchLosses, _smooth, _count), StateJson)!);

    void IStatefulCallback.LoadState(CallbackState state)
    {
        var s = state.Json.Deserialize<State>(StateJson) ?? throw new LumenException("the checkpoint's recorder state is empty");
        _history.Clear();
        _history.AddRange(s.History);
        _batchLosses.Clear();
        _batchLosses.AddRange(s.BatchLosses);
        (_smooth, _count) = (s.Smooth, s.Count);
    }

    private sealed record State(List<EpochRecord> History, List<double> BatchLosses, double Smooth, int Count);

    // Epochs without validation carry a NaN valid_loss.
    private static readonly JsonSerializerOptions StateJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
