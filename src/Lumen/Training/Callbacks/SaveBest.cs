using System.Text.Json;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// Keeps the weights of the best epoch by the monitored value and restores them when the fit ends
/// (fastai's SaveModelCallback); the snapshot is part of checkpoints, so it survives <c>--resume</c>.
/// </summary>
public sealed class SaveBest(string monitor = "valid_loss") : IStatefulCallback
{
    private Dictionary<string, Tensor>? _snapshot;
    private double _best;
    private bool _higherIsBetter;

    /// <summary>The epoch whose weights were kept.</summary>
    public int? BestEpoch { get; private set; }

    /// <summary>The best value seen.</summary>
    public double BestValue => _best;

    /// <summary>The epoch whose weights the model holds after the last fit, when they were restored; null otherwise.</summary>
    public int? RestoredEpoch { get; private set; }

    string IStatefulCallback.StateKey => "save_best";

    void ICallback.BeforeFit(Learner learner)
    {
        _higherIsBetter = Monitoring.HigherIsBetter(learner, monitor);
        if (learner.Resuming) return;
        _best = _higherIsBetter ? double.NegativeInfinity : double.PositiveInfinity;
        BestEpoch = RestoredEpoch = null;
        Release();
    }

    void ICallback.AfterEpoch(Learner learner)
    {
        var record = learner.History[^1];
        double value = record.Get(monitor);
        if (!(_higherIsBetter ? value > _best : value < _best)) return;
        (_best, BestEpoch) = (value, record.Epoch);
        Release();
        _snapshot = StateDicts.Clone(learner.Model.state_dict());
    }

    void ICallback.AfterFit(Learner learner)
    {
        if (_snapshot is null || learner.Interrupted) return;
        StateDicts.CopyInto(learner.Model, _snapshot);
        RestoredEpoch = BestEpoch;
        Release();
    }

    CallbackState IStatefulCallback.SaveState() =>
        new(JsonSerializer.SerializeToNode(new State(_best, BestEpoch))!, _snapshot);

    void IStatefulCallback.LoadState(CallbackState state)
    {
        var s = state.Json.Deserialize<State>()!;
        (_best, BestEpoch) = (s.Best, s.BestEpoch);
        Release();
        if (state.Tensors is { Count: > 0 } tensors) _snapshot = StateDicts.Clone(tensors);
    }

    private sealed record State(double Best, int? BestEpoch);

    private void Release()
    {
        if (_snapshot is null) return;
        foreach (var t in _snapshot.Values) t.Dispose();
        _snapshot = null;
    }
}
