using System.Text.Json;
using static TorchSharp.torch;

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

/// <summary>Writes the epoch table to <c>history.csv</c> and <c>history.json</c> after every epoch (atomically).</summary>
public sealed class HistoryWriter(string folder) : ICallback
{
    void ICallback.AfterEpoch(Learner learner) => HistoryFile.Write(folder, learner.History);
}

internal static class Monitoring
{
    /// <summary>Whether larger values of <paramref name="monitor"/> are better; checks it can be monitored at all.</summary>
    /// <exception cref="LumenException">Unknown, or a validation value while the data has no validation set.</exception>
    public static bool HigherIsBetter(Learner learner, string monitor) => monitor switch
    {
        "train_loss" => false,
        _ when !learner.HasValidation =>
            throw new LumenException($"cannot monitor '{monitor}': the data has no validation images (valid-pct 0); monitor train_loss, or keep a validation set"),
        "valid_loss" => false,
        _ => learner.Metrics.FirstOrDefault(m => m.Name == monitor)?.HigherIsBetter
             ?? throw new LumenException($"cannot monitor '{monitor}': known are train_loss, valid_loss, {string.Join(", ", learner.Metrics.Select(m => m.Name))}"),
    };
}
