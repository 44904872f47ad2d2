using System.Text.Json;

namespace Lumen.Training;

/// <summary>Stops training when the monitored value has not improved by <c>minDelta</c> for <c>patience</c> epochs (fastai's EarlyStoppingCallback).</summary>
public sealed class EarlyStopping(string monitor = "valid_loss", double minDelta = 0, int patience = 1) : IStatefulCallback
{
    private double _best;
    private int _wait;
    private bool _higherIsBetter;

    /// <summary>The epoch at which training was stopped, or null.</summary>
    public int? StoppedAt { get; private set; }

    string IStatefulCallback.StateKey => "early_stopping";

    void ICallback.BeforeFit(Learner learner)
    {
        _higherIsBetter = Monitoring.HigherIsBetter(learner, monitor);
        if (learner.Resuming) return;
        _best = _higherIsBetter ? double.NegativeInfinity : double.PositiveInfinity;
        _wait = 0;
    }

    void ICallback.AfterEpoch(Learner learner)
    {
        var record = learner.History[^1];
        double value = record.Get(monitor);
        if (_higherIsBetter ? value > _best + minDelta : value < _best - minDelta)
        {
            (_best, _wait) = (value, 0);
            return;
        }
        if (++_wait < patience) return;
        StoppedAt = record.Epoch;
        learner.Stop($"early stopping: {monitor} did not improve for {patience} epoch(s)");
    }

    CallbackState IStatefulCallback.SaveState() => new(JsonSerializer.SerializeToNode(new[] { _best, _wait })!);

    void IStatefulCallback.LoadState(CallbackState state) => (_best, _wait) = (state.Json[0]!.GetValue<double>(), (int)state.Json[1]!.GetValue<double>());
}
