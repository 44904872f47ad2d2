namespace Lumen.Training;

/// <summary>
/// fastai's LR finder: the learning rate grows exponentially from a start to an end value over a
/// number of batches while the smoothed loss is recorded; it stops when that loss exceeds 4× its
/// minimum, and restores the model and optimiser when done.
/// </summary>
public sealed class LrFinder : ICallback
{
    private const double Beta = 0.98;
    private readonly double _start, _end;
    private readonly int _iterations;
    private readonly List<double> _lrs = new(), _losses = new();
    private Dictionary<string, TorchSharp.torch.Tensor>? _model, _optimizer;
    private IProgressTask? _task;
    private double _smooth, _best = double.PositiveInfinity;

    private LrFinder(double start, double end, int iterations) => (_start, _end, _iterations) = (start, end, iterations);

    /// <summary>
    /// Runs the finder over <paramref name="iterations"/> batches from <paramref name="start"/> to
    /// <paramref name="end"/>. Of the learner's callbacks only those that alter the training images
    /// (MixUp) take part, so the losses are those training would see; the recorder, checkpoints, early
    /// stopping and progress see nothing, and the model and optimiser are restored afterwards.
    /// </summary>
    internal static LrFindResult Run(Learner learner, double start, double end, int iterations)
    {
        if (!(start > 0 && end > start)) throw new LumenException($"the LR finder needs 0 < start < end, got {start} and {end}");
        if (iterations < 3) throw new LumenException($"the LR finder needs at least 3 iterations, got {iterations}");
        var finder = new LrFinder(start, end, iterations);
        using (learner.WithoutCallbacks(c => c is not IAltersTrainingImages || c is ProgressiveResizing))
            learner.Fit(1, new ICallback[] { finder }, phase: FitPhase.LrFind);
        int keep = finder._losses.FindIndex(double.IsNaN);
        if (keep >= 0) { finder._lrs.RemoveRange(keep, finder._lrs.Count - keep); finder._losses.RemoveRange(keep, finder._losses.Count - keep); }
        return new LrFindResult(finder._lrs, finder._losses, iterations);
    }

    void ICallback.BeforeFit(Learner learner)
    {
        _model = StateDicts.Clone(learner.Model.state_dict());
        _optimizer = learner.Optimizer.StateDict();
        _task = learner.Progress.Start("LR finder", _iterations);
    }

    void ICallback.BeforeTrain(Learner learner)
    {
        // One long "epoch" of as many batches as asked, drawn from data epochs apart from training's.
        var train = learner.Data.Train;
        learner.TrainingBatches = (_, _) => Enumerable.Range(0, int.MaxValue).SelectMany(k => train.Batches(1_000_000 + k))
            .Take(_iterations).Select(b => (b.Images, b.Targets));
    }

    void ICallback.BeforeBatch(Learner learner)
    {
        double lr = Schedules.Exponential(_start, _end, (double)_lrs.Count / _iterations);
        for (int g = 0; g < learner.Groups.Count; g++) (learner.Optimizer.LearningRates[g], learner.Optimizer.Momentums[g]) = (lr, 0.9);
        _lrs.Add(lr);
    }

    void ICallback.AfterBatch(Learner learner)
    {
        _smooth = Beta * _smooth + (1 - Beta) * learner.LossValue;
        double debiased = _smooth / (1 - Math.Pow(Beta, _lrs.Count));
        _losses.Add(debiased);
        _best = Math.Min(_best, debiased);
        _task!.Advance();
        if (double.IsNaN(debiased) || debiased > 4 * _best || _lrs.Count >= _iterations || learner.Cancellation.IsCancellationRequested)
            learner.Stop("the LR finder is done");
    }

    void ICallback.AfterFit(Learner learner)
    {
        _task?.Dispose();
        StateDicts.CopyInto(learner.Model, _model!);
        learner.Optimizer.LoadStateDict(_optimizer!);
        foreach (var t in _model!.Values.Concat(_optimizer!.Values)) t.Dispose();
    }
}
