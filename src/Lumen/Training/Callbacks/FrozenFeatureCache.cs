using Lumen.Data;
using TorchSharp;
using static TorchSharp.torch;
using DataLoader = Lumen.Data.DataLoader;

namespace Lumen.Training;

/// <summary>
/// Speeds up the frozen phase: when the body runs without autograd (BatchNorm frozen too) and the
/// training data is not augmented, the body's pooled features are computed once and every training
/// batch of the frozen fit feeds the head from them (the same items per batch as the image loader).
/// It applies only to a classifier head (a U-Net decoder reads every stage of the body) and when the cached features are exactly what the image path would compute: the
/// training item transform is deterministic (no random crop position, no RandomResizedCrop) and no
/// callback alters the training images (MixUp mixes images, not pooled features).
/// </summary>
internal sealed class FrozenFeatureCache : ICallback
{
    private (Tensor Features, Tensor Targets)? _cache;

    /// <summary>Allows the cache (on by default; off to compare against the uncached path).</summary>
    public bool Enabled { get; set; } = true;

    private bool Applies(Learner learner) =>
        Enabled && learner.BodyWithoutGrad && learner.Model.Decoder is null
        && learner.Data.Options.Augment.IsIdentity && !learner.Data.Options.Item.IsRandomInTraining
        && !learner.AllCallbacks.OfType<IAltersTrainingImages>().Any();

    void ICallback.BeforeTrain(Learner learner)
    {
        if (!Applies(learner)) return;
        var (features, targets) = _cache ??= Build(learner);
        learner.Forward = pooled => HeadAfterPooling(learner, pooled);
        learner.TrainingBatches = (epoch, start) => Batches(learner.Data.Train, features, targets, epoch, start);
    }

    private static IEnumerable<(Tensor X, Tensor Y)> Batches(DataLoader train, Tensor features, Tensor targets, int epoch, int start)
    {
        int[] order = train.EpochOrder(epoch);
        for (int b = start; b < train.BatchCount; b++)
        {
            using var index = tensor(train.BatchIndices(order, b).Select(i => (long)i).ToArray(), device: features.device);
            yield return (features.index_select(0, index), targets.index_select(0, index));
        }
    }

    private static (Tensor, Tensor) Build(Learner learner)
    {
        var data = learner.Data;
        var loader = new DataLoader(data.Train.Items, data.Vocab, data.Task, data.Options, training: false, data.Train.Device);
        var features = new List<Tensor>();
        var targets = new List<Tensor>();
        learner.Model.eval();
        using (var task = learner.Progress.Start("caching frozen-body features", loader.BatchCount))
        using (no_grad())
        {
            foreach (var batch in loader.Batches())
            {
                using (batch)
                {
                    features.Add(PooledFeatures(learner, batch.Images).DetachFromDisposeScope());
                    targets.Add(batch.Targets.clone().DetachFromDisposeScope());
                }
                task.Advance();
            }
        }
        learner.Model.train();
        learner.Model.Body.eval();
        var all = cat(features, 0).DetachFromDisposeScope();
        var y = cat(targets, 0).DetachFromDisposeScope();
        foreach (var t in features.Concat(targets)) t.Dispose();
        return (all, y);
    }

    /// <summary>The body and the head's parameter-free pooling and flattening (the bottleneck features).</summary>
    private static Tensor PooledFeatures(Learner learner, Tensor images)
    {
        using var scope = NewDisposeScope();
        Tensor x = learner.Model.Body.forward(images);
        foreach (var (_, layer) in learner.Model.Head.named_children().Take(2)) x = ((nn.Module<Tensor, Tensor>)layer).forward(x);
        return x.MoveToOuterDisposeScope();
    }

    private static Tensor HeadAfterPooling(Learner learner, Tensor pooled)
    {
        Tensor x = pooled;
        foreach (var (_, layer) in learner.Model.Head.named_children().Skip(2)) x = ((nn.Module<Tensor, Tensor>)layer).forward(x);
        return x;
    }

    /// <summary>True once features are cached (the cache applied to a fit).</summary>
    public bool HasFeatures => _cache is not null;

    /// <summary>Frees the cached features (freezing differently invalidates them).</summary>
    public void Release()
    {
        if (_cache is not { } cache) return;
        cache.Features.Dispose();
        cache.Targets.Dispose();
        _cache = null;
    }
}
