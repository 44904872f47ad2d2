using Lumen.Data;
using static TorchSharp.torch;
using DataLoader = Lumen.Data.DataLoader;

namespace Lumen.Training;

/// <summary>Predictions on a loader and validation (fastai's get_preds and validate).</summary>
public sealed partial class Learner
{
    /// <summary>Validation loss (mean over items) and metrics.</summary>
    public (double Loss, Dictionary<string, double> Metrics) Validate()
    {
        using var predictions = GetPredictions();
        using var scope = NewDisposeScope();
        return (predictions.Losses.mean().item<float>(), Metrics.ToDictionary(m => m.Name, m => m.Compute(predictions.Logits, predictions.Targets)));
    }

    /// <summary>Predictions, targets and per-item losses on a loader (default: validation), in item order.</summary>
    public Predictions GetPredictions(DataLoader? loader = null) => Predict(loader ?? Data.Valid, inFit: false);

    /// <summary>Predictions on <paramref name="loader"/>; <paramref name="inFit"/> raises the batch events (validation during a fit).</summary>
    internal Predictions Predict(DataLoader loader, bool inFit)
    {
        if (loader.Training) loader = new DataLoader(loader.Items, loader.Vocab, loader.Task, loader.Options, training: false, loader.Device);
        Model.eval();
        var (logits, targets, items) = (new List<Tensor>(), new List<Tensor>(), new List<LabelledItem>());
        using (var task = inFit ? null : Progress.Start("predicting", loader.BatchCount))
        using (no_grad())
        {
            foreach (var batch in loader.Batches())
            {
                using (batch)
                {
                    (X, Y) = (batch.Images, batch.Targets);
                    if (inFit) Event(nameof(ICallback.BeforeBatch), c => c.BeforeBatch(this));
                    Pred = Model.forward(X);
                    if (inFit) Event(nameof(ICallback.AfterPred), c => c.AfterPred(this));
                    logits.Add(Pred.cpu().DetachFromDisposeScope());
                    targets.Add(Y.cpu().DetachFromDisposeScope());
                    items.AddRange(batch.Items);
                    if (inFit) Event(nameof(ICallback.AfterBatch), c => c.AfterBatch(this));
                }
                task?.Advance();
            }
        }
        var allLogits = cat(logits, 0).DetachFromDisposeScope();
        var allTargets = cat(targets, 0).DetachFromDisposeScope();
        foreach (var t in logits.Concat(targets)) t.Dispose();
        Tensor losses;
        using (no_grad()) losses = Loss.PerItem(allLogits, allTargets).DetachFromDisposeScope();
        return new Predictions(allLogits, allTargets, losses, items, loader.Task);
    }
}
