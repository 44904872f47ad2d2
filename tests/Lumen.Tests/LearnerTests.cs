using System.Diagnostics;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Models;
using Lumen.Tests.Support;
using Lumen.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>
/// The training loop on tiny synthetic data (2 colour-coded classes, 32 px) with a random-init ResNet-18.
/// Not run in parallel with other tests: reproducibility checks rely on torch's process-wide random
/// generator (dropout, initialisation), which concurrent tests would advance.
/// </summary>
[Collection(nameof(MemoryCollection))]
public class LearnerTests
{
    private static ImageDataLoaders TinyData(TempFolder dir, int perClass = 10, AugmentOptions? aug = null, int bs = 4) =>
        ImageDataLoaders.FromFolder(TinyFolder(dir, perClass), new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = bs, Workers = 2 }, Augment = aug ?? AugmentOptions.None });

    private static string TinyFolder(TempFolder dir, int perClass)
    {
        if (!Directory.Exists(dir.File("red"))) dir.AddClasses(new[] { "red", "green" }, perClass, size: 32);
        return dir.Path;
    }

    private static Learner TinyLearner(ImageDataLoaders data, TrainingOptions? options = null) =>
        VisionLearner.Create(data, "resnet18", pretrained: false, options: options);

    /// <summary>Calls back after every training batch with its loss.</summary>
    private sealed class AfterTrainingBatch(Action<Learner, double> afterBatch) : ICallback
    {
        public void AfterBatch(Learner learner)
        {
            if (learner.Training) afterBatch(learner, learner.LossValue);
        }
    }

    [Fact]
    public void OneCycleDrivesTheOptimiserAtEveryBatch()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir));
        var seen = new List<(double Lr, double Mom)>();
        learner.Callbacks.Add(new AfterTrainingBatch((l, _) => seen.Add((l.Optimizer.LearningRates[^1], l.Optimizer.Momentums[^1]))));
        learner.FitOneCycle(2, 1e-3);
        int total = 2 * learner.Data.Train.BatchCount;
        Assert.Equal(total, seen.Count);
        for (int i = 0; i < total; i++)
        {
            double pct = (double)i / total;
            Assert.Equal(Schedules.OneCycleLr(pct, 1e-3), seen[i].Lr, 12);
            Assert.Equal(Schedules.OneCycleMomentum(pct, (0.95, 0.85, 0.95)), seen[i].Mom, 12);
        }
    }

    [Fact]
    public void DiscriminativeRatesReachEachGroup()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir));
        learner.Unfreeze();
        double[]? rates = null;
        learner.Callbacks.Add(new AfterTrainingBatch((l, _) => rates ??= l.Optimizer.LearningRates.ToArray()));
        learner.Fit(1, LearningRates.Slice(1e-5, 1e-3));
        Assert.Equal(new[] { 1e-5, 1e-4, 1e-3 }, rates!.Select(r => Math.Round(r, 12)));
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
        var learner = TinyLearner(data, new TrainingOptions { TrainBn = false, MixUpAlpha = mixUp });
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

    [Fact]
    public void FeatureCacheTrainsTheHeadExactlyLikeTheFrozenBody()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 10, size: 32, height: 48);
        var data = TinyData(dir.Path, ResizeMethod.Squish);
        var cached = FrozenHead(data, cache: true, check: l => Assert.True(l.FeatureCache.HasFeatures, "squished images without augmentation should use the cache"));
        AssertSameWeights(cached, FrozenHead(data, cache: false));
    }

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

    [Fact]
    public void ATinyModelOverfitsATinyDataset()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir, perClass: 8));
        learner.Unfreeze();
        var losses = new List<double>();
        learner.Callbacks.Add(new AfterTrainingBatch((_, loss) => losses.Add(loss)));
        learner.FitOneCycle(8, 1e-2);
        double start = losses.Take(4).Average(), end = losses.TakeLast(4).Average();
        Assert.True(end < 0.05 && end < 0.1 * start, $"training loss {start:F3} → {end:F3}");
        Assert.Equal(new[] { "error_rate", "accuracy", "f1_score", "matthews_corrcoef" }, learner.History[^1].Metrics.Keys);
    }

    [Fact]
    public void SameSeedSameLosses()
    {
        using var dir = new TempFolder();
        var data = TinyData(dir, aug: AugmentOptions.Default);
        double[] Run()
        {
            manual_seed(7);
            var learner = TinyLearner(data);
            learner.FineTune(1, freezeEpochs: 1);
            return learner.History.SelectMany(h => new[] { h.TrainLoss, h.ValidLoss }).ToArray();
        }
        var a = Run();
        var b = Run();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i], 4);
    }

    [Fact]
    public void ResumeContinuesWhereItStopped()
    {
        using var dir = new TempFolder();
        var data = TinyData(dir, perClass: 8, aug: AugmentOptions.Default);
        Learner Fresh()
        {
            manual_seed(3);
            return TinyLearner(data);
        }
        var straight = Fresh();
        straight.FineTune(2, freezeEpochs: 1);

        // Interrupt in the middle of the second (unfrozen) epoch, as Ctrl+C would.
        string checkpoint = dir.File("run", "checkpoint.lumenckpt");
        using var cts = new CancellationTokenSource();
        var interrupted = Fresh();
        interrupted.Callbacks.Add(new Checkpoint(checkpoint));
        interrupted.Cancellation = cts.Token;
        int batches = 0;
        int stopAfter = data.Train.BatchCount * 2 + 1;
        interrupted.Callbacks.Add(new AfterTrainingBatch((_, _) => { if (++batches == stopAfter) cts.Cancel(); }));
        interrupted.FineTune(2, freezeEpochs: 1);
        Assert.True(interrupted.Interrupted);
        Assert.True(File.Exists(checkpoint));
        Assert.Equal(2, interrupted.History.Count);

        var resumed = Fresh();
        resumed.ResumeFineTune(checkpoint);
        Assert.Equal(3, resumed.History.Count);
        var expected = straight.Model.state_dict();
        foreach (var (key, value) in resumed.Model.state_dict())
            Assert.True(value.allclose(expected[key], rtol: 1e-4, atol: 1e-5), key);
        Assert.Equal(straight.History[^1].ValidLoss, resumed.History[^1].ValidLoss, 4);
    }

    /// <summary>A user's callback: counts training batches (state kept in checkpoints) and stops the fit at a limit.</summary>
    private sealed class BatchBudget(int limit) : IStatefulCallback
    {
        public int Seen { get; private set; }

        public string StateKey => "batch_budget";

        public void AfterBatch(Learner learner)
        {
            if (learner.Training && ++Seen >= limit) learner.Stop($"batch budget of {limit} spent");
        }

        public CallbackState SaveState() => new(System.Text.Json.Nodes.JsonValue.Create(Seen));

        public void LoadState(CallbackState state) => Seen = state.Json.GetValue<int>();
    }

    [Fact]
    public void AUserCallbackStopsTrainingAndItsStateSurvivesResume()
    {
        using var dir = new TempFolder();
        var data = TinyData(dir, perClass: 8);
        int perEpoch = data.Train.BatchCount;

        // Stop in the middle of the second epoch: no validation of the cut epoch, one row of history.
        var stopped = TinyLearner(data);
        stopped.Callbacks.Add(new BatchBudget(perEpoch + 2));
        stopped.Unfreeze();
        stopped.FitOneCycle(3, 1e-3);
        Assert.Equal("batch budget of " + (perEpoch + 2) + " spent", stopped.StopReason);
        Assert.Single(stopped.History);
        Assert.False(stopped.Interrupted);

        // Interrupted (Ctrl+C) after 1.5 epochs of a fine_tune, then resumed by a fresh process-like
        // learner: the callback's count continues from the checkpoint, ending where one run would.
        string checkpoint = dir.File("run", "checkpoint.lumenckpt");
        using var cts = new CancellationTokenSource();
        var first = TinyLearner(data);
        var budget = new BatchBudget(int.MaxValue);
        first.Callbacks.Add(budget);
        first.Callbacks.Add(new Checkpoint(checkpoint));
        first.Callbacks.Add(new AfterTrainingBatch((_, _) => { if (budget.Seen == perEpoch + perEpoch / 2) cts.Cancel(); }));
        first.Cancellation = cts.Token;
        first.FineTune(2, freezeEpochs: 1);
        Assert.True(first.Interrupted);

        var resumed = TinyLearner(data);
        var restored = new BatchBudget(int.MaxValue);
        resumed.Callbacks.Add(restored);
        resumed.ResumeFineTune(checkpoint);
        Assert.Equal(3 * perEpoch, restored.Seen);
        Assert.Equal(3, resumed.History.Count);
        Assert.Null(resumed.StopReason);
    }

    [Fact]
    public void CreatingAndTrainingLeaveTheCallersRandomStreamAlone()
    {
        using var dir = new TempFolder();
        var data = TinyData(dir, perClass: 4);
        manual_seed(123);
        var expected = rand(5).data<float>().ToArray();
        manual_seed(123);
        var learner = TinyLearner(data);
        learner.FitOneCycle(1, 1e-3);
        // Lumen seeds torch's generator for its own reproducibility, and gives the caller's state back.
        Assert.Equal(expected, rand(5).data<float>().ToArray());
    }

    [Fact]
    public void FineTunesFrozenPhaseUsesSliceOfTheBaseRateAndAnEarlyStopEndsOnlyThatPhase()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir, perClass: 6));
        double[]? frozenRates = null;
        learner.Callbacks.Add(new AfterTrainingBatch((l, _) => { if (l.Position.Phase == "frozen") frozenRates ??= l.Optimizer.LearningRates.ToArray(); }));
        // No epoch can improve valid_loss by 10: each phase stops after its second epoch.
        learner.Callbacks.Add(new EarlyStopping(patience: 1, minDelta: 10));
        learner.FineTune(3, baseLr: 1e-2, freezeEpochs: 3);

        // fastai's fine_tune: fit_one_cycle(freeze_epochs, slice(base_lr)): the head at base_lr, the
        // body's trainable BatchNorm at base_lr/10 (same one-cycle point for both).
        Assert.Equal(10, frozenRates![^1] / frozenRates[0], 6);
        Assert.Equal(new[] { "frozen", "frozen", "unfrozen", "unfrozen" }, learner.History.Select(h => h.Phase));
        Assert.Contains("early stopping", learner.StopReason);
    }

    /// <summary>Spoils the head's weights after the first epoch, so that epoch stays the best.</summary>
    private sealed class SpoilAfterFirstEpoch : ICallback
    {
        public void AfterEpoch(Learner learner)
        {
            if (learner.History.Count != 1) return;
            using var noGrad = no_grad();
            foreach (var p in learner.Model.Head.parameters()) p.mul_(50);
        }
    }

    [Fact]
    public void SaveBestExportsTheMetricsOfTheEpochItKept()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir, perClass: 6));
        var best = new SaveBest();
        learner.Callbacks.Add(best);
        learner.Callbacks.Add(new SpoilAfterFirstEpoch());
        learner.Fit(2, 1e-6);
        Assert.Equal(0, best.RestoredEpoch);
        Assert.True(learner.History[1].ValidLoss > learner.History[0].ValidLoss);
        var info = Lumen.Inference.ModelFile.Export(learner, dir.File("model.lumen"));
        Assert.Equal(learner.History[0].ValidLoss, info.Training.Metrics["valid_loss"], 9);
        Assert.Equal(learner.History[0].Metrics["accuracy"], info.Training.Metrics["accuracy"], 9);
    }

    [Fact]
    public void DivergenceStopsWithAnExplanation()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir));
        learner.Unfreeze();
        var e = Assert.Throws<TrainingDivergedException>(() => learner.Fit(3, 1e6));
        Assert.Contains("lower learning rate", e.Message);
    }

    [Fact]
    public void WeightAveragingKeepsTheMovingAverageOfEveryStepsWeights()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir), new TrainingOptions { WeightAveragingDecay = 0.9 });
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

    private sealed class Watch(Action<Learner>? afterStep = null, Action<Learner>? beforeTrain = null) : ICallback
    {
        public void AfterStep(Learner learner) => afterStep?.Invoke(learner);
        public void BeforeTrain(Learner learner) => beforeTrain?.Invoke(learner);
    }

    [Fact]
    public void ProgressiveResizingGrowsTheTrainingSizeAndValidatesAtTheDataSize()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 8, size: 96);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions
        {
            Item = new ItemTransform(96), Loader = new LoaderOptions { BatchSize = 4, Workers = 2 }, Augment = AugmentOptions.Default,
        });
        var learner = TinyLearner(data, new TrainingOptions { ProgressiveStartSize = 32 });
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
        var e = Assert.Throws<OptionException>(() => ProgressiveResizing.For(new TrainingOptions { ProgressiveStartSize = 224 }, 224));
        Assert.Equal("ProgressiveStartSize", e.Option);
        Assert.Throws<OptionException>(() => new ProgressiveResizing(16));
        Assert.Throws<OptionException>(() => new ProgressiveResizing(64, rampFraction: 1));
        Assert.Null(ProgressiveResizing.For(new TrainingOptions(), 224));
    }

    [Fact]
    public void MixUpLabelSmoothingAndOversamplingTrain()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "common" }, 12, size: 32);
        dir.AddClasses(new[] { "rare" }, 4, size: 32, seedBase: 99);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4 }, Augment = AugmentOptions.None });
        var learner = TinyLearner(data, new TrainingOptions { MixUpAlpha = 0.4, LabelSmoothing = 0.1, Oversample = true, ClassWeights = true });
        learner.Fit(1, 1e-3);
        Assert.Single(learner.History);
        Assert.Contains("label_smoothing", learner.Loss.Name);
        // Oversampling: rare items (3 of 13 in training) make up about half of an epoch's draws.
        var draws = Enumerable.Range(0, 50).SelectMany(e => learner.Data.Train.EpochOrder(e)).Select(i => learner.Data.Train.Items[i].Labels[0]).ToList();
        double rare = draws.Count(l => l == "rare") / (double)draws.Count;
        Assert.InRange(rare, 0.4, 0.6);
    }

    /// <summary>Runs one event handler (for tests that look at the batch at a given moment).</summary>
    private sealed class OnEvent(Action<Learner>? beforeBatch = null, Action<Learner>? afterLoss = null) : ICallback
    {
        public void BeforeBatch(Learner learner) => beforeBatch?.Invoke(learner);
        public void AfterLoss(Learner learner) => afterLoss?.Invoke(learner);
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

    [Fact]
    public void EarlyStoppingAndSaveBestWork()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir));
        learner.Unfreeze();
        var best = new SaveBest();
        learner.Callbacks.Add(new EarlyStopping(patience: 1, minDelta: 10));
        learner.Callbacks.Add(best);
        learner.Callbacks.Add(new HistoryWriter(dir.File("out")));
        learner.FitOneCycle(5, 1e-3);
        Assert.Equal(2, learner.History.Count); // no epoch can improve by 10: stop after the second
        Assert.Contains("early stopping", learner.StopReason);
        var bestRecord = learner.History.MinBy(h => h.ValidLoss)!;
        Assert.Equal(bestRecord.Epoch, best.BestEpoch);
        Assert.True(File.Exists(dir.File("out", "history.csv")));
        string[] csv = File.ReadAllLines(dir.File("out", "history.csv"));
        Assert.StartsWith("epoch,phase,train_loss,valid_loss,error_rate", csv[0]);
        // Epochs are numbered from 1, as the console shows them, and history.json reads back the same records.
        Assert.StartsWith("1,", csv[1]);
        Assert.Equal(learner.History.Select(h => h.Epoch), HistoryFile.Read(dir.File("out", "history.json"))!.Select(h => h.Epoch));
        Assert.Contains("\"train_loss\"", File.ReadAllText(dir.File("out", "history.json")));
        var (loss, _) = learner.Validate();
        Assert.Equal(bestRecord.ValidLoss, loss, 4); // the best epoch's weights were restored
    }
}

/// <summary>
/// RSS is per process: this runs outside the parallel phase so other tests' allocations do not show
/// up as growth.
/// </summary>
[Collection(nameof(MemoryCollection))]
public class TrainingMemoryTests
{
    [Fact]
    public void MemoryStaysFlatAcrossEpochs()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 16, size: 32);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4, Workers = 2 }, Augment = AugmentOptions.Default });
        var learner = VisionLearner.Create(data, "resnet18", pretrained: false);
        learner.Unfreeze();
        var rss = new List<double>();
        learner.Callbacks.Add(new Probe(() => { GC.Collect(); GC.WaitForPendingFinalizers(); rss.Add(Process.GetCurrentProcess().WorkingSet64 / 1e6); }));
        learner.Fit(12, 1e-4);
        // The allocator's arenas make single samples jump by ~100 MB either way; a leak grows steadily.
        // Compare the medians of epochs 2-6 and 8-12.
        static double Median(IEnumerable<double> v) { var o = v.OrderBy(x => x).ToArray(); return o[o.Length / 2]; }
        double early = Median(rss.Skip(1).Take(5)), late = Median(rss.Skip(7).Take(5));
        Assert.True(late - early < 50, $"RSS median grew {late - early:F0} MB from epochs 2-6 to 8-12: {string.Join(", ", rss.Select(r => $"{r:F0}"))} MB");
    }

    private sealed class Probe(Action probe) : ICallback
    {
        public void AfterEpoch(Learner learner) => probe();
    }
}

/// <summary>Tests that need process-wide state to themselves (RSS, torch's global random generator).</summary>
[CollectionDefinition(nameof(MemoryCollection), DisableParallelization = true)]
public sealed class MemoryCollection { }
