using System.Diagnostics;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Models;
using Lumen.Tests.Support;
using Lumen.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>Freezing, BatchNorm, the frozen-feature cache and the LR finder.</summary>
public partial class LearnerTests
{
    [Trait("Category", Category.Slow)]
    [Fact]
    public void TheLrFinderTrainsWithMixUpButWithoutTheRecorderOrOtherCallbacks()
    {
        using var dir = new TempFolder();
        var log = new List<string>();
        var learner = TinyLearner(TinyData(dir, perClass: 8), callbacks: new CallbackOptions { MixUpAlpha = 0.4 });
        var mixUp = learner.Callbacks.OfType<MixUp>().Single();
        int mixed = 0;
        learner.Callbacks.Add(new Tracer("user", 0, log));
        learner.Callbacks.Add(new OnEvent(afterLoss: l => mixed++));
        using var before = learner.Model.parameters().First().detach().clone();
        var result = learner.LrFind(iterations: 6);
        Assert.Equal(6, result.LearningRates.Count);
        Assert.Empty(log);           // the user's callbacks saw nothing
        Assert.Equal(0, mixed);
        Assert.Empty(learner.History);
        Assert.True(learner.Model.parameters().First().allclose(before, 0, 0), "the model is restored");
        Assert.NotNull(mixUp.Lambda);  // MixUp mixed the finder's last batch (λ is cleared only by the next batch)
    }

    [Fact]
    public void FreezeKeepsTheBodyButNotBatchNormOrTheHead()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir));
        var model = learner.Model;
        var named = model.named_parameters().ToList();
        Assert.True(learner.IsFrozen);
        foreach (var (name, p) in named)
        {
            bool expected = name.StartsWith("head.") || name.Contains(".bn") || name.StartsWith("body.bn1") || name.Contains("downsample.1");
            Assert.True(expected == p.requires_grad, $"{name}: requires_grad {p.requires_grad}");
        }
        var before = named.ToDictionary(n => n.name, n => n.parameter.detach().clone());
        learner.Fit(1, 1e-2);
        foreach (var (name, p) in named)
        {
            bool changed = !p.equal(before[name]).all().item<bool>();
            if (name == "body.conv1.weight" || name == "body.layer3.0.conv2.weight") Assert.False(changed, name);
            if (name == "head.linear1.weight" || name == "body.bn1.weight") Assert.True(changed, name);
        }
        learner.Unfreeze();
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void FrozenBatchNormOptionFreezesEverythingButTheHead()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir), new TrainingOptions { TrainBn = false });
        Assert.All(learner.Model.Body.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(learner.Model.Head.parameters(), p => Assert.True(p.requires_grad));
    }

    /// <summary>Trains a fresh learner's frozen head for two epochs with the feature cache on or off; returns the head's weights.</summary>
    private static Dictionary<string, Tensor> FrozenHead(ImageDataLoaders data, bool cache, double mixUp = 0, Action<Learner>? check = null)
    {
        manual_seed(1);
        var learner = TinyLearner(data, new TrainingOptions { TrainBn = false }, new CallbackOptions { MixUpAlpha = mixUp });
        learner.FeatureCache.Enabled = cache;
        learner.FitOneCycle(2, 1e-2);
        check?.Invoke(learner);
        return learner.Model.Head.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
    }

    private static void AssertSameWeights(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual)
    {
        foreach (var (key, value) in expected)
            Assert.True(value.allclose(actual[key], rtol: 1e-4, atol: 1e-5), key);
    }

    private static ImageDataLoaders TinyData(string folder, ResizeMethod method) =>
        ImageDataLoaders.FromFolder(folder, new DataOptions { Item = new ItemTransform(32, method), Loader = new LoaderOptions { BatchSize = 4, Workers = 2 }, Augment = AugmentOptions.None });

    [Trait("Category", Category.Slow)]
    [Fact]
    public void FeatureCacheTrainsTheHeadExactlyLikeTheFrozenBody()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 10, size: 32, height: 48);
        var data = TinyData(dir.Path, ResizeMethod.Squish);
        var cached = FrozenHead(data, cache: true, check: l => Assert.True(l.FeatureCache.HasFeatures, "squished images without augmentation should use the cache"));
        AssertSameWeights(cached, FrozenHead(data, cache: false));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void FeatureCacheStepsAsideForRandomCropsOfNonSquareImages()
    {
        // Training crops a random square out of each 32×48 image; cached features would hold only
        // the centre crop, so a cached fit would train on other inputs than the image path.
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 10, size: 32, height: 48);
        var data = TinyData(dir.Path, ResizeMethod.Crop);
        var cached = FrozenHead(data, cache: true, check: l => Assert.False(l.FeatureCache.HasFeatures));
        AssertSameWeights(cached, FrozenHead(data, cache: false));
    }

    [Fact]
    public void FeatureCacheStepsAsideForMixUp()
    {
        // MixUp blends images; blending pooled features instead is another (wrong) training.
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 10, size: 32);
        var data = TinyData(dir.Path, ResizeMethod.Squish);
        var cached = FrozenHead(data, cache: true, mixUp: 0.4, check: l => Assert.False(l.FeatureCache.HasFeatures));
        AssertSameWeights(cached, FrozenHead(data, cache: false, mixUp: 0.4));
    }

    [Fact]
    public void PartialFreezeWithFrozenBatchNormTrainsTheUnfrozenBodyGroups()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir), new TrainingOptions { TrainBn = false });
        learner.FreezeTo(1);
        Assert.False(learner.IsFrozen);
        var group0 = learner.Groups[0].Select(p => p.detach().clone()).ToList();
        var group1 = learner.Groups[1].Select(p => p.detach().clone()).ToList();
        learner.Fit(1, 1e-2);
        Assert.All(group0.Zip(learner.Groups[0]), pair => Assert.True(pair.First.equal(pair.Second).all().item<bool>(), "group 0 is frozen"));
        Assert.Contains(group1.Zip(learner.Groups[1]), pair => !pair.First.equal(pair.Second).all().item<bool>());
    }

    [Fact]
    public void CheckpointRestoresAPartialFreeze()
    {
        using var dir = new TempFolder();
        var data = TinyData(dir);
        var learner = TinyLearner(data);
        learner.FreezeTo(1);
        string file = dir.File("partial.lumenckpt");
        Checkpoint.Save(learner, file);
        var restored = TinyLearner(data);
        Checkpoint.Load(restored, file);
        Assert.Equal(1, restored.FrozenGroups);
        Assert.All(restored.Groups[1], p => Assert.True(p.requires_grad));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void LrFinderRestoresWeightsAndOptimiser()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir));
        var before = learner.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var result = learner.LrFind(iterations: 20);
        Assert.True(result.LearningRates.Count >= 3);
        Assert.True(result.LearningRates.Zip(result.LearningRates.Skip(1)).All(p => p.Second > p.First));
        foreach (var (key, value) in learner.Model.state_dict())
            Assert.True(value.equal(before[key]).all().item<bool>(), key);
        Assert.Empty(learner.Optimizer.StateDict());
        string png = dir.File("lr.png");
        TrainingPlots.LrFind(result, png);
        Assert.True(new FileInfo(png).Length > 5000);
    }
}
