namespace Lumen.Training;

/// <summary>
/// Reports each epoch to <see cref="Learner.Progress"/>: a task advanced by every training and
/// validation batch, completed with the epoch's summary line (fastai's progress bar and table row).
/// </summary>
internal sealed class ProgressCallback : ICallback
{
    public int Order => CallbackOrder.Progress;

    private IProgressTask? _task;

    void ICallback.BeforeEpoch(Learner learner)
    {
        var p = learner.Position;
        _task = learner.Progress.Start($"epoch {learner.Epoch + 1} ({p.Phase.Name()} {p.EpochInFit + 1}/{learner.EpochsInFit})",
            learner.Data.Train.BatchCount - p.Batch + learner.Data.Valid.BatchCount);
    }

    void ICallback.AfterBatch(Learner learner) => _task?.Advance();

    void ICallback.AfterEpoch(Learner learner)
    {
        var r = learner.History[^1];
        string validation = double.IsNaN(r.ValidLoss) ? "no validation set" : $"valid_loss {r.ValidLoss:F4}  " + string.Join("  ", r.Metrics.Select(m => $"{m.Key} {m.Value:F4}"));
        _task?.Complete($"epoch {r.Epoch + 1} ({r.Phase.Name()})  train_loss {r.TrainLoss:F4}  {validation}  {TimeSpan.FromSeconds(r.Seconds):mm\\:ss}");
        End();
    }

    void ICallback.AfterFit(Learner learner)
    {
        if (_task is null) return;
        _task.Complete($"epoch {learner.Epoch + 1} ({learner.Position.Phase.Name()}) {(learner.Interrupted ? "interrupted" : $"stopped: {learner.StopReason}")}");
        End();
    }

    private void End()
    {
        _task?.Dispose();
        _task = null;
    }
}
