using System.Diagnostics;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Models;
using Lumen.Tests.Support;
using Lumen.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>MixUp, weight averaging and progressive resizing.</summary>
public partial class LearnerTests
{
    [Trait("Category", Category.Slow)]
    [Fact]
    public void WeightAveragingKeepsTheMovingAverageOfEveryStepsWeights()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir), callbacks: new CallbackOptions { WeightAveragingDecay = 0.9 });
        var head = learner.Model.parameters().Last();
        using var start = head.detach().clone();
        var afterSteps = new List<Tensor>();
        Tensor? liveAfterValidation = null;
        learner.Callbacks.Add(new Watch(
            afterStep: _ => afterSteps.Add(head.detach().clone().DetachFromDisposeScope()),
            beforeTrain: l => { if (l.Epoch == 1) liveAfterValidation = head.detach().clone().DetachFromDisposeScope(); }));
        learner.Fit(2, 1e-3);

        // timm's ModelEmaV2 with warm-up: d = min(decay, (1 + t) / (10 + t)).
        var expected = start.clone();
        for (int t = 1; t <= afterSteps.Count; t++)
        {
            double d = Math.Min(0.9, (1.0 + t) / (10.0 + t));
            expected = expected * d + afterSteps[t - 1] * (1 - d);
        }
        Assert.Equal(2 * learner.Data.Train.BatchCount, afterSteps.Count);
        Assert.True(head.detach().allclose(expected, rtol: 1e-4, atol: 1e-6), "the model keeps the average");
        Assert.False(head.detach().allclose(afterSteps[^1], rtol: 1e-4, atol: 1e-6), "the average differs from the last step's weights");
        // Validation swaps the average in and gives the live weights back: epoch 2 trains on from epoch 1's live weights.
        Assert.True(liveAfterValidation!.allclose(afterSteps[learner.Data.Train.BatchCount - 1], rtol: 0, atol: 0));
        foreach (var t in afterSteps) t.Dispose();
        liveAfterValidation.Dispose();
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ProgressiveResizingGrowsTheTrainingSizeAndValidatesAtTheDataSize()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 8, size: 96);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions
        {
            Item = new ItemTransform(96), Loader = new LoaderOptions { BatchSize = 4, Workers = 2 }, Augment = AugmentOptions.Default,
        });
        var learner = TinyLearner(data, callbacks: new CallbackOptions { ProgressiveStartSize = 32 });
        var training = new List<(int Epoch, long Size)>();
        var validation = new List<long>();
        learner.Callbacks.Add(new OnEvent(beforeBatch: l =>
        {
            if (l.Training) training.Add((l.Epoch, l.X.shape[2]));
            else validation.Add(l.X.shape[2]);
        }));
        learner.Fit(4, 1e-3);

        // Half the epochs ramp from 32 px towards 96 in steps of 32; the rest, and every validation, at 96.
        var sizes = Enumerable.Range(0, 4).Select(e => training.Where(t => t.Epoch == e).Select(t => t.Size).Distinct().Single()).ToArray();
        Assert.Equal(new long[] { 32, 64, 96, 96 }, sizes);
        Assert.Equal(4 * learner.Data.Train.BatchCount, training.Count);
        Assert.Equal(4 * learner.Data.Valid.BatchCount, validation.Count);
        Assert.All(validation, size => Assert.Equal(96, size));
    }

    [Theory]
    [InlineData(12, new[] { 128, 128, 160, 160, 192, 192, 224, 224, 224, 224, 224, 224 })]
    [InlineData(1, new[] { 224 })]  // fine_tune's frozen epoch: too short to ramp
    [InlineData(4, new[] { 128, 160, 224, 224 })]
    public void ProgressiveResizingScheduleRampsOverHalfTheEpochsInStepsOf32(int epochs, int[] expected)
    {
        var schedule = new ProgressiveResizing(128);
        Assert.Equal(expected, Enumerable.Range(0, epochs).Select(e => schedule.SizeAt(e, epochs, 224)));
    }

    [Fact]
    public void ProgressiveResizingRefusesAStartSizeNotBelowTheDataSize()
    {
        var e = Assert.Throws<OptionException>(() => ProgressiveResizing.For(new CallbackOptions { ProgressiveStartSize = 224 }, 224));
        Assert.Equal(OptionName.ProgressiveStartSize, e.Option);
        Assert.Throws<OptionException>(() => new ProgressiveResizing(16));
        Assert.Throws<OptionException>(() => new ProgressiveResizing(64, rampFraction: 1));
        Assert.Null(ProgressiveResizing.For(new CallbackOptions(), 224));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void MixUpLabelSmoothingAndOversamplingTrain()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "common" }, 12, size: 32);
        dir.AddClasses(new[] { "rare" }, 4, size: 32, seedBase: 99);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4 }, Augment = AugmentOptions.None });
        var learner = TinyLearner(data, new TrainingOptions { LabelSmoothing = 0.1, Oversample = true, ClassWeights = true }, new CallbackOptions { MixUpAlpha = 0.4 });
        var mixUp = Assert.Single(learner.Callbacks.OfType<MixUp>());
        int mixedBatches = 0;
        learner.Callbacks.Add(new OnEvent(afterLoss: l => { if (mixUp.Lambda is not null) mixedBatches++; }));
        learner.Fit(1, 1e-3);
        Assert.Single(learner.History);
        Assert.True(double.IsFinite(learner.History[0].TrainLoss));
        Assert.Equal(learner.Data.Train.BatchCount, mixedBatches);  // every training batch was mixed
        Assert.Equal("cross_entropy(label_smoothing=0.1)(class weights)", learner.Loss.Name);
        // Oversampling: rare items (3 of 13 in training) make up about half of an epoch's draws.
        var draws = Enumerable.Range(0, 50).SelectMany(e => learner.Data.Train.EpochOrder(e)).Select(i => learner.Data.Train.Items[i].Labels[0]).ToList();
        double rare = draws.Count(l => l == "rare") / (double)draws.Count;
        Assert.InRange(rare, 0.4, 0.6);
    }

    [Fact]
    public void MixUpBlendsImagesAndLossesWithTheSameLambda()
    {
        using var dir = new TempFolder();
        var data = TinyData(dir, perClass: 8);
        var mixUp = new MixUp(0.4);
        var learner = TinyLearner(data);
        int checkedBatches = 0;
        Tensor? original = null;
        var before = new OnEvent(beforeBatch: l => original = l.Training ? l.X.clone() : null);
        var after = new OnEvent(
            beforeBatch: l =>
            {
                if (!l.Training) { Assert.Null(mixUp.Lambda); return; }
                var lam = mixUp.Lambda!;
                Assert.True(lam.ge(0.5).all().item<bool>() && lam.le(1).all().item<bool>(), "λ = max(l, 1 − l) lies in [0.5, 1]");
                var shape = new long[] { lam.shape[0], 1, 1, 1 };
                var expected = original! * lam.view(shape) + original!.index_select(0, mixUp.Partner!) * (1 - lam.view(shape));
                Assert.True(l.X.allclose(expected, rtol: 1e-5, atol: 1e-6), "mixed image = λ·x + (1 − λ)·x[partner]");
            },
            afterLoss: l =>
            {
                if (!l.Training) return;
                var lam = mixUp.Lambda!;
                var y = l.Y;
                var expected = (l.Loss.PerItem(l.Pred, y) * lam + l.Loss.PerItem(l.Pred, y.index_select(0, mixUp.Partner!)) * (1 - lam)).mean();
                Assert.Equal(expected.item<float>(), l.LossTensor.item<float>(), 5);
                checkedBatches++;
            });
        learner.Callbacks.Add(mixUp);
        learner.Callbacks.Add(after);
        learner.Fit(1, new ICallback[] { before, new ParamScheduler((_, _) => (1e-3, 0.9)) });
        Assert.Equal(data.Train.BatchCount, checkedBatches);
    }

    [Theory]
    [InlineData(0.4)]
    [InlineData(2.0)]
    public void BetaSamplesHaveTheBetaDistributionsMoments(double alpha)
    {
        // Beta(α, α): mean 1/2, variance 1 / (4(2α + 1)).
        var random = new Random(5);
        var samples = Enumerable.Range(0, 40_000).Select(_ => BetaDistribution.Sample(alpha, random)).ToArray();
        double mean = samples.Average(), variance = samples.Average(x => (x - mean) * (x - mean));
        Assert.InRange(mean, 0.49, 0.51);
        Assert.InRange(variance, 0.95 / (4 * (2 * alpha + 1)), 1.05 / (4 * (2 * alpha + 1)));
        Assert.All(samples, x => Assert.InRange(x, 0, 1));
    }
}
