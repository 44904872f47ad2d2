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
/// The training loop on tiny synthetic data (2 colour-coded classes, 32 px) with a random-init ResNet-18:
/// schedules, discriminative rates, seeding, divergence; the other parts of this class test callbacks,
/// freezing and regularisation. Not run in parallel with other tests: reproducibility checks rely on
/// torch's process-wide random generator (dropout, initialisation), which concurrent tests would advance.
/// </summary>
[Collection(nameof(MemoryCollection))]
public partial class LearnerTests
{
    private static ImageDataLoaders TinyData(TempFolder dir, int perClass = 10, AugmentOptions? aug = null, int bs = 4) =>
        ImageDataLoaders.FromFolder(TinyFolder(dir, perClass), new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = bs, Workers = 2 }, Augment = aug ?? AugmentOptions.None });

    private static string TinyFolder(TempFolder dir, int perClass)
    {
        if (!Directory.Exists(dir.File("red"))) dir.AddClasses(new[] { "red", "green" }, perClass, size: 32);
        return dir.Path;
    }

    private static Learner TinyLearner(ImageDataLoaders data, TrainingOptions? options = null, CallbackOptions? callbacks = null) =>
        VisionLearner.Create(data, "resnet18", pretrained: false, options: options, callbacks: callbacks?.Build(data.Options.Item.Size));

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

    [Trait("Category", Category.Slow)]
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

    [Trait("Category", Category.Slow)]
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

    [Trait("Category", Category.Slow)]
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

    [Trait("Category", Category.Slow)]
    [Fact]
    public void DivergenceStopsWithAnExplanation()
    {
        using var dir = new TempFolder();
        var learner = TinyLearner(TinyData(dir));
        learner.Unfreeze();
        var e = Assert.Throws<TrainingDivergedException>(() => learner.Fit(3, 1e6));
        Assert.Contains("lower learning rate", e.Message);
    }

    private sealed class Watch(Action<Learner>? afterStep = null, Action<Learner>? beforeTrain = null) : ICallback
    {
        public void AfterStep(Learner learner) => afterStep?.Invoke(learner);
        public void BeforeTrain(Learner learner) => beforeTrain?.Invoke(learner);
    }

    /// <summary>Runs one event handler (for tests that look at the batch at a given moment).</summary>
    private sealed class OnEvent(Action<Learner>? beforeBatch = null, Action<Learner>? afterLoss = null) : ICallback
    {
        public void BeforeBatch(Learner learner) => beforeBatch?.Invoke(learner);
        public void AfterLoss(Learner learner) => afterLoss?.Invoke(learner);
    }
}
