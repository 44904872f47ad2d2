using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Lumen.Training;

/// <summary>The results of one epoch: a row of fastai's table.</summary>
/// <param name="Epoch">Epoch number within the whole training (0-based).</param>
/// <param name="Phase">"frozen" or "unfrozen" (fine_tune's phases), or "fit".</param>
/// <param name="TrainLoss">Smoothed training loss at the end of the epoch (fastai's train_loss).</param>
/// <param name="ValidLoss">Mean validation loss.</param>
/// <param name="Metrics">Metric values by name.</param>
/// <param name="Seconds">Wall time of the epoch (training and validation).</param>
public sealed record EpochRecord(int Epoch, string Phase, double TrainLoss, double ValidLoss, IReadOnlyDictionary<string, double> Metrics, double Seconds)
{
    /// <summary>A monitored value by name: train_loss, valid_loss or a metric.</summary>
    public double Get(string name) => name switch
    {
        "train_loss" => TrainLoss,
        "valid_loss" => ValidLoss,
        _ => Metrics.TryGetValue(name, out double v) ? v : throw new LumenException($"cannot monitor '{name}': known are train_loss, valid_loss, {string.Join(", ", Metrics.Keys)}"),
    };
}

/// <summary>Hooks into training (fastai's callbacks). All methods are optional.</summary>
public interface ICallback
{
    /// <summary>Before a fit (one call of FitOneCycle/Fit) starts.</summary>
    void BeforeFit(Learner learner) { }

    /// <summary>After each training batch, with its (unsmoothed) loss.</summary>
    void AfterBatch(Learner learner, double loss) { }

    /// <summary>After each epoch's validation.</summary>
    void AfterEpoch(Learner learner, EpochRecord record) { }

    /// <summary>After a fit ends (normally, by early stopping, or by cancellation).</summary>
    void AfterFit(Learner learner) { }
}

/// <summary>Stops training when the monitored value has not improved by <c>MinDelta</c> for <c>Patience</c> epochs.</summary>
public sealed class EarlyStopping(string monitor = "valid_loss", double minDelta = 0, int patience = 1) : ICallback
{
    private double _best;
    private int _wait;
    private bool? _higherIsBetter;

    /// <summary>The epoch at which training was stopped, or null.</summary>
    public int? StoppedAt { get; private set; }

    void ICallback.BeforeFit(Learner learner)
    {
        _higherIsBetter = Monitoring.HigherIsBetter(learner, monitor);
        _best = _higherIsBetter.Value ? double.NegativeInfinity : double.PositiveInfinity;
        _wait = 0;
    }

    void ICallback.AfterEpoch(Learner learner, EpochRecord record)
    {
        double value = record.Get(monitor);
        bool improved = _higherIsBetter!.Value ? value > _best + minDelta : value < _best - minDelta;
        if (improved)
        {
            _best = value;
            _wait = 0;
            return;
        }
        if (++_wait >= patience)
        {
            StoppedAt = record.Epoch;
            learner.RequestStop($"early stopping: {monitor} did not improve for {patience} epoch(s)");
        }
    }
}

/// <summary>Keeps the weights of the best epoch by the monitored value and restores them when the fit ends (fastai's SaveModelCallback).</summary>
public sealed class SaveBest(string monitor = "valid_loss") : ICallback
{
    private Dictionary<string, TorchSharp.torch.Tensor>? _snapshot;
    private double _best;
    private bool _higherIsBetter;

    /// <summary>The epoch whose weights were kept.</summary>
    public int? BestEpoch { get; private set; }

    /// <summary>The best value seen.</summary>
    public double BestValue => _best;

    void ICallback.BeforeFit(Learner learner)
    {
        _higherIsBetter = Monitoring.HigherIsBetter(learner, monitor);
        _best = _higherIsBetter ? double.NegativeInfinity : double.PositiveInfinity;
        BestEpoch = null;
        Release();
    }

    void ICallback.AfterEpoch(Learner learner, EpochRecord record)
    {
        double value = record.Get(monitor);
        if (_higherIsBetter ? value > _best : value < _best)
        {
            _best = value;
            BestEpoch = record.Epoch;
            Release();
            _snapshot = StateDicts.Clone(learner.Model.state_dict());
        }
    }

    void ICallback.AfterFit(Learner learner)
    {
        if (_snapshot is null) return;
        StateDicts.CopyInto(learner.Model, _snapshot);
        Release();
    }

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
    void ICallback.AfterEpoch(Learner learner, EpochRecord record) => HistoryFile.Write(folder, learner.History);
}

/// <summary>Saves a resumable checkpoint after every epoch (and when training is interrupted).</summary>
public sealed class CheckpointEveryEpoch(string path) : ICallback
{
    /// <summary>Where the checkpoint is written.</summary>
    public string Path => path;

    void ICallback.AfterEpoch(Learner learner, EpochRecord record) => learner.SaveCheckpoint(path);
}

internal static class Monitoring
{
    public static bool HigherIsBetter(Learner learner, string monitor) => monitor switch
    {
        "train_loss" or "valid_loss" => false,
        _ => learner.Metrics.FirstOrDefault(m => m.Name == monitor)?.HigherIsBetter
             ?? throw new LumenException($"cannot monitor '{monitor}': known are train_loss, valid_loss, {string.Join(", ", learner.Metrics.Select(m => m.Name))}"),
    };
}
