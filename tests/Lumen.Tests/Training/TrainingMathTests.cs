using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>Schedules, learning-rate spreads, metrics and losses against fastai's formulas and hand-computed cases.</summary>
public class TrainingMathTests
{
    [Fact]
    public void OneCycleMatchesFastaiAtKnownPoints()
    {
        const double max = 1e-2;
        Assert.Equal(max / 25, Schedules.OneCycleLr(0, max), 12);
        Assert.Equal(max, Schedules.OneCycleLr(0.25, max), 12);
        Assert.Equal(max / 1e5, Schedules.OneCycleLr(1, max), 12);
        // Halfway through the warm-up: the mean of start and end (cosine at π/2).
        Assert.Equal((max / 25 + max) / 2, Schedules.OneCycleLr(0.125, max), 12);
        // 3/4 of the way down: end + (start − end)/2·(1 + cos(0.75π)).
        double expected = max / 1e5 + (max - max / 1e5) / 2 * (1 + Math.Cos(0.75 * Math.PI));
        Assert.Equal(expected, Schedules.OneCycleLr(0.25 + 0.75 * 0.75, max), 12);
        var moms = (0.95, 0.85, 0.95);
        Assert.Equal(0.95, Schedules.OneCycleMomentum(0, moms), 12);
        Assert.Equal(0.85, Schedules.OneCycleMomentum(0.25, moms), 12);
        Assert.Equal(0.90, Schedules.OneCycleMomentum(0.625, moms), 12);
        Assert.Equal(0.95, Schedules.OneCycleMomentum(1, moms), 12);
    }

    [Fact]
    public void DiscriminativeLearningRatesSpreadLikeFastaiSlices()
    {
        var lrs = LearningRates.Slice(1e-5, 1e-3).ForGroups(3);
        Assert.Equal(1e-5, lrs[0], 12);
        Assert.Equal(1e-4, lrs[1], 12);
        Assert.Equal(1e-3, lrs[2], 12);
        Assert.Equal(new[] { 1e-4, 1e-4, 1e-3 }, LearningRates.Slice(1e-3).ForGroups(3));
        Assert.Equal(new[] { 0.1, 0.1, 0.1 }, ((LearningRates)0.1).ForGroups(3));
    }

    private static (Tensor Logits, Tensor Targets) Case()
    {
        // Predictions (argmax): 0,0,1,1,2,2,0,2 for targets 0,0,1,2,2,2,1,1 (3 classes).
        long[] predicted = { 0, 0, 1, 1, 2, 2, 0, 2 };
        long[] actual = { 0, 0, 1, 2, 2, 2, 1, 1 };
        var logits = zeros(8, 3);
        for (int i = 0; i < 8; i++) logits[i, predicted[i]] = tensor(5f);
        return (logits, tensor(actual));
    }

    [Fact]
    public void SingleLabelMetricsMatchHandComputedValues()
    {
        var (logits, targets) = Case();
        Assert.Equal(5.0 / 8, Metrics.Accuracy.Compute(logits, targets), 9);
        Assert.Equal(3.0 / 8, Metrics.ErrorRate.Compute(logits, targets), 9);
        // Per class F1: class0 tp2 fp1 fn0 → 0.8; class1 tp1 fp1 fn2 → 0.4; class2 tp2 fp1 fn1 → 2/3.
        Assert.Equal((0.8 + 0.4 + 2.0 / 3) / 3, Metrics.MacroF1.Compute(logits, targets), 9);
        // MCC: c=5, s=8, t=(2,3,3), p=(3,2,3): (40 − 21) / √((64 − 22)(64 − 22)) = 19/42.
        Assert.Equal(19.0 / 42, Metrics.Mcc.Compute(logits, targets), 9);
    }

    [Fact]
    public void TopKCountsTheTargetAmongTheKHighestScores()
    {
        // Rankings without ties: item0 0>1>2, item1 0>1>2, item2 1>2>0, item3 2>1>0.
        var logits = tensor(new float[] { 3, 2, 1, /**/ 3, 2, 1, /**/ 1, 3, 2, /**/ 1, 2, 3 }, new long[] { 4, 3 });
        var targets = tensor(new long[] { 1, 2, 2, 0 });
        Assert.Equal(0.0, Metrics.TopK(1).Compute(logits, targets), 9);
        Assert.Equal(0.5, Metrics.TopK(2).Compute(logits, targets), 9);  // items 0 and 2
        Assert.Equal(1.0, Metrics.TopK(3).Compute(logits, targets), 9);
    }

    [Fact]
    public void MccIsOneForPerfectAndZeroForConstantPredictions()
    {
        var targets = tensor(new long[] { 0, 1, 2, 1 });
        var perfect = functional_one_hot(targets, 3) * 4;
        Assert.Equal(1.0, Metrics.Mcc.Compute(perfect, targets), 9);
        var constant = zeros(4, 3);
        constant[.., 1] = tensor(1f);
        Assert.Equal(0.0, Metrics.Mcc.Compute(constant, targets), 9);
    }

    private static Tensor functional_one_hot(Tensor t, int classes) => nn.functional.one_hot(t, classes).to(ScalarType.Float32);

    [Fact]
    public void MultiLabelMetricsMatchHandComputedValues()
    {
        // 3 items × 3 labels; logits > 0 ⇔ sigmoid > 0.5.
        var logits = tensor(new float[] { 2, -2, 2, /**/ -2, -2, -2, /**/ 2, 2, -2 }, new long[] { 3, 3 });
        var targets = tensor(new float[] { 1, 0, 0, /**/ 0, 0, 0, /**/ 1, 1, 1 }, new long[] { 3, 3 });
        // Decisions correct: item0 2/3, item1 3/3, item2 2/3 → 7/9.
        Assert.Equal(7.0 / 9, Metrics.AccuracyMulti().Compute(logits, targets), 6);
        // Sample F1: item0 2·1/(2+1)=2/3; item1 none predicted nor true → 0; item2 2·2/(2+3)=0.8.
        Assert.Equal((2.0 / 3 + 0 + 0.8) / 3, Metrics.SampleF1().Compute(logits, targets), 6);
    }

    [Fact]
    public void LabelSmoothingAndClassWeightsFollowTheirFormulas()
    {
        var logits = tensor(new float[] { 2, 0, -1, 0.5f, 0.5f, 3 }, new long[] { 2, 3 });
        var targets = tensor(new long[] { 0, 2 });
        var logp = logits.log_softmax(1);
        double nll0 = -logp[0, 0].item<float>(), nll1 = -logp[1, 2].item<float>();
        Assert.Equal((nll0 + nll1) / 2, Loss.CrossEntropy().Mean(logits, targets).item<float>(), 5);
        double smooth0 = -logp[0].mean().item<float>(), smooth1 = -logp[1].mean().item<float>();
        double expected = (0.9 * nll0 + 0.1 * smooth0 + 0.9 * nll1 + 0.1 * smooth1) / 2;
        Assert.Equal(expected, Loss.CrossEntropy(0.1).Mean(logits, targets).item<float>(), 5);
        var weighted = Loss.CrossEntropy(0, new[] { 2f, 1f, 0.5f }).PerItem(logits, targets);
        Assert.Equal(2 * nll0, weighted[0].item<float>(), 5);
        Assert.Equal(0.5 * nll1, weighted[1].item<float>(), 5);
        Assert.Throws<OptionException>(() => Loss.CrossEntropy(1.5));
    }

    [Fact]
    public void ClassWeightsDivideBySumOfTargetWeightsAndLeaveSmoothingUnweighted()
    {
        var logits = tensor(new float[] { 2, 0, -1, 0.5f, 0.5f, 3, 1, 1, 0 }, new long[] { 3, 3 });
        var targets = tensor(new long[] { 0, 2, 2 });
        var weights = new[] { 2f, 1f, 0.5f };
        var logp = logits.log_softmax(1);
        double[] nll = { -logp[0, 0].item<float>(), -logp[1, 2].item<float>(), -logp[2, 2].item<float>() };
        double weightedNll = (2 * nll[0] + 0.5 * nll[1] + 0.5 * nll[2]) / (2 + 0.5 + 0.5);
        Assert.Equal(weightedNll, Loss.CrossEntropy(0, weights).Mean(logits, targets).item<float>(), 5);
        // PyTorch's own weighted cross-entropy (reduction mean) is the reference without smoothing.
        using var torchWeights = tensor(weights);
        Assert.Equal(nn.functional.cross_entropy(logits, targets, torchWeights).item<float>(), Loss.CrossEntropy(0, weights).Mean(logits, targets).item<float>(), 5);
        // fastai's LabelSmoothingCrossEntropy: ε·mean(−Σ log p / c) unweighted + (1−ε)·weighted NLL.
        double smooth = Enumerable.Range(0, 3).Average(i => -logp[i].mean().item<float>());
        Assert.Equal(0.9 * weightedNll + 0.1 * smooth, Loss.CrossEntropy(0.1, weights).Mean(logits, targets).item<float>(), 5);
    }

    [Fact]
    public void AdamWMatchesTorchOptimAdamW()
    {
        // Fixtures/adamw-reference.json comes from torch.optim.AdamW (see adamw_reference.py beside it).
        var reference = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "adamw-reference.json")))!;
        static double[] Values(System.Text.Json.Nodes.JsonNode node) => node.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        using var matrix = new TorchSharp.Modules.Parameter(tensor(Values(reference["initial"]!["matrix"]!), new long[] { 3, 4 }));
        using var vector = new TorchSharp.Modules.Parameter(tensor(Values(reference["initial"]!["vector"]!)));
        var optimizer = new AdamW(new[] { new[] { matrix }, new[] { vector } }, weightDecay: 0.01);
        foreach (var step in reference["steps"]!.AsArray().Select(s => s!))
        {
            for (int g = 0; g < 2; g++)
            {
                optimizer.LearningRates[g] = step["lr"]!.GetValue<double>();
                optimizer.Momentums[g] = step["beta1"]!.GetValue<double>();
            }
            matrix.grad = tensor(Values(step["grad"]!["matrix"]!), new long[] { 3, 4 });
            vector.grad = tensor(Values(step["grad"]!["vector"]!));
            optimizer.Step();
            Assert.Equal(Values(step["after"]!["matrix"]!), matrix.detach().data<double>().ToArray(), new ToleranceComparer(1e-10));
            Assert.Equal(Values(step["after"]!["vector"]!), vector.detach().data<double>().ToArray(), new ToleranceComparer(1e-10));
        }
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }

    [Fact]
    public void BinaryCrossEntropyAveragesOverLabels()
    {
        var logits = tensor(new float[] { 0, 2 }, new long[] { 1, 2 });
        var targets = tensor(new float[] { 1, 0 }, new long[] { 1, 2 });
        double expected = (Math.Log(2) + Math.Log(1 + Math.Exp(2))) / 2;
        Assert.Equal(expected, Loss.BinaryCrossEntropy().Mean(logits, targets).item<float>(), 5);
    }

    [Fact]
    public void LrFinderSuggestionsFollowTheCurve()
    {
        // A curve that falls between lr 1e-5 and 1e-2 and rises after: valley and steep fall inside the descent.
        var lrs = Enumerable.Range(0, 100).Select(i => Schedules.Exponential(1e-7, 10, i / 100.0)).ToList();
        var losses = lrs.Select(lr => lr < 1e-5 ? 2.0 : lr < 1e-2 ? 2.0 - 0.5 * Math.Log10(lr / 1e-5) : 0.5 + 2 * Math.Log10(lr / 1e-2)).ToList();
        var result = new LrFindResult(lrs, losses, 100);
        Assert.InRange(result.Valley, 1e-5, 1e-2);
        Assert.InRange(result.Steep, 1e-5, 1e-2);
        Assert.InRange(result.Minimum, 5e-4, 2e-3);
    }
}
