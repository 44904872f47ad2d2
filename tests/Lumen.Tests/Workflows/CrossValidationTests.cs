using Lumen.Inference;
using System.Text.Json.Nodes;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Tests.Support;
using Lumen.Workflows;
using TorchSharp;

namespace Lumen.Tests;

/// <summary>Stratified k-fold splits and <see cref="CrossValidation"/> on tiny generated data.</summary>
[Collection(nameof(MemoryCollection))]
public class CrossValidationTests
{
    private static List<LabelledItem> Items(params (string Label, int Count)[] classes) =>
        classes.SelectMany(c => Enumerable.Range(0, c.Count).Select(i => new LabelledItem($"/data/{c.Label}/{i:D3}.png", c.Label))).ToList();

    [Fact]
    public void KFoldHoldsEveryItemOutOnceWithClassProportionsKept()
    {
        var items = Items(("a", 23), ("b", 11), ("c", 5));
        var splits = Enumerable.Range(0, 5).Select(k => Splitter.KFold(5, k, seed: 3)(items)).ToList();
        for (int i = 0; i < items.Count; i++)
            Assert.Equal(1, splits.Count(s => s[i] == Split.Valid));
        foreach (var label in new[] { "a", "b", "c" })
        {
            var perFold = splits.Select(s => items.Where((item, i) => item.Labels[0] == label && s[i] == Split.Valid).Count()).ToList();
            Assert.True(perFold.Max() - perFold.Min() <= 1, $"{label}: {string.Join(",", perFold)}");
        }
        Assert.InRange(splits.Select(s => s.Count(x => x == Split.Valid)).Max() - splits.Select(s => s.Count(x => x == Split.Valid)).Min(), 0, 1);
        // Seeded: same items and seed, same folds, whatever the order the items come in; another seed, other folds.
        var reversed = Splitter.FoldOf(items.AsEnumerable().Reverse().ToList(), 5, 3).Reverse().ToArray();
        Assert.Equal(Splitter.FoldOf(items, 5, 3), reversed);
        Assert.NotEqual(Splitter.FoldOf(items, 5, 3), Splitter.FoldOf(items, 5, 4));
        Assert.Equal(OptionName.Folds, Assert.Throws<OptionException>(() => Splitter.KFold(1, 0)).Option);
        Assert.Equal(OptionName.Fold, Assert.Throws<OptionException>(() => Splitter.KFold(3, 3)).Option);
    }

    private static CrossValidationRequest Request(TempFolder dir, bool resume = false) => new()
    {
        Recipe = new TrainRequest
        {
            Data = new DataSource(dir.File("data")),
            OutputFolder = dir.File("cv"),
            DataOptions = new DataOptions { Item = new ItemTransform(32), Augment = AugmentOptions.None, Loader = new LoaderOptions { BatchSize = 4, Workers = 2 } },
            Weights = "none", Epochs = 1, FreezeEpochs = 0, Lr = 1e-3,
        },
        Folds = 3,
        Resume = resume,
    };

    [Trait("Category", Category.Slow)]
    [Fact]
    public void CrossValidationScoresEveryImageOnceWithTheModelThatDidNotTrainOnIt()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green", "blue" }, 6, size: 32, prefix: "data");
        var result = CrossValidation.Run(Request(dir));

        Assert.False(result.Interrupted);
        Assert.Equal(3, result.Folds.Count);
        Assert.Equal(18, result.OutOfFold.Count);
        Assert.Equal(18, result.OutOfFold.Select(p => p.Path).Distinct().Count());
        var foldOf = Splitter.FoldOf(FolderSource.Scan(dir.File("data")).Items, 3, 42);
        var paths = FolderSource.Scan(dir.File("data")).Items.Select(i => i.Path).ToList();
        foreach (var p in result.OutOfFold) Assert.Equal(foldOf[paths.IndexOf(p.Path)] + 1, p.Fold);
        foreach (var fold in result.Folds)
        {
            Assert.Equal(12, fold.TrainImages);
            Assert.Equal(6, fold.ValidImages);
            Assert.Equal((4, 1), (fold.BatchSize, fold.Epochs));
            var rows = result.OutOfFold.Where(p => p.Fold == fold.Fold).ToList();
            Assert.Equal(rows.Count(p => p.Correct) / (double)rows.Count, fold.Metrics["accuracy"], 9);
            Assert.True(File.Exists(fold.ModelPath));
        }
        var accuracies = result.Folds.Select(f => f.Metrics["accuracy"]).ToList();
        double mean = accuracies.Average();
        Assert.Equal(mean, result.Summary.Mean, 9);
        Assert.Equal(Math.Sqrt(accuracies.Sum(a => (a - mean) * (a - mean)) / 2), result.Mean("accuracy").Sd, 9);
        Assert.Equal(new[] { "error_rate", "accuracy", "f1_score", "matthews_corrcoef" }, result.MetricNames);

        var cv = JsonNode.Parse(File.ReadAllText(dir.File("cv", "cv.json")))!;
        Assert.Equal(3, cv["per_fold"]!.AsArray().Count);
        Assert.Equal(result.Summary.Mean, cv["accuracy"]!["mean"]!.GetValue<double>(), 9);
        Assert.Equal(18, cv["out_of_fold_confusion_matrix"]!.AsArray().SelectMany(r => r!.AsArray()).Sum(v => v!.GetValue<long>()));
        var csv = File.ReadAllLines(dir.File("cv", "oof.csv"));
        Assert.Equal("file,fold,actual,predicted,p_blue,p_green,p_red", csv[0]);
        Assert.Equal(19, csv.Length);
        Assert.True(new FileInfo(dir.File("cv", "confusion_matrix.png")).Length > 1000);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void TheEnsembleOfTheFoldModelsAveragesTheirProbabilities()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green", "blue" }, 6, size: 32, prefix: "data");
        var result = CrossValidation.Run(Request(dir) with { Ensemble = true });
        Assert.Equal(dir.File("cv", "ensemble.lumen"), result.EnsemblePath);
        Assert.True(EnsembleFile.Is(result.EnsemblePath!));
        Assert.Contains("ensemble", Assert.Throws<LumenException>(() => ModelFile.Load(result.EnsemblePath!)).Message);

        var float32 = new PredictorOptions { Precision = InferencePrecision.Float32 };
        using var ensemble = Predictor.Load(result.EnsemblePath!, float32);
        Assert.Equal(3, ensemble.Members);
        var members = result.Folds.Select(f => Predictor.Load(f.ModelPath, float32)).ToList();
        var images = Directory.GetFiles(dir.File("data"), "*.png", SearchOption.AllDirectories).Take(5).Select(ensemble.Prepare).ToList();
        using var mean = members.Select(m => m.Probabilities(images)).Aggregate((a, b) => a + b) / 3;
        using var averaged = ensemble.Probabilities(images);
        Assert.True(averaged.allclose(mean, atol: 1e-5), $"largest difference {(averaged - mean).abs().max().item<float>()}");
        // Every image was trained on by some member, so every image counts as seen.
        Assert.Equal(18, ensemble.Images!.Train.Count);
        foreach (var m in members) m.Dispose();
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void MembersPerFoldAreScoredAsTheirEnsembleOnTheSameFold()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green", "blue" }, 6, size: 32, prefix: "data");
        var result = CrossValidation.Run(Request(dir) with { Members = 2, Ensemble = true });

        var float32 = new PredictorOptions { Precision = InferencePrecision.Float32 };
        var foldOf = Splitter.FoldOf(FolderSource.Scan(dir.File("data")).Items, 3, 42);
        var paths = FolderSource.Scan(dir.File("data")).Items.Select(i => i.Path).ToList();
        Assert.Equal(18, result.OutOfFold.Count);
        foreach (var fold in result.Folds)
        {
            Assert.Equal(dir.File("cv", $"fold-{fold.Fold}", "model.lumen"), fold.ModelPath);
            using var ensemble = Predictor.Load(fold.ModelPath, float32);
            Assert.Equal(2, ensemble.Members);
            var members = new[] { 1, 2 }.Select(m => Predictor.Load(dir.File("cv", $"fold-{fold.Fold}", $"member-{m}", "model.lumen"), float32)).ToList();
            // Both members hold out this fold's images (the folds of the seed), but train from other seeds.
            foreach (var member in members) Assert.Equal(6, member.Images!.Valid.Count);
            var rows = result.OutOfFold.Where(p => p.Fold == fold.Fold).ToList();
            Assert.All(rows, p => Assert.Equal(fold.Fold, foldOf[paths.IndexOf(p.Path)] + 1));
            var images = rows.Select(p => ensemble.Prepare(p.Path)).ToList();
            using var first = members[0].Probabilities(images);
            using var second = members[1].Probabilities(images);
            Assert.False(first.allclose(second, atol: 1e-4), "the members were trained from different seeds");
            using var mean = (first + second) / 2;
            using var scored = torch.tensor(rows.SelectMany(p => p.Probabilities).ToArray()).reshape(rows.Count, 3);
            Assert.True(scored.allclose(mean, atol: 1e-5), "each held-out image is scored by the mean of its fold's members");
            foreach (var m in members) m.Dispose();
        }
        var cv = JsonNode.Parse(File.ReadAllText(dir.File("cv", "cv.json")))!;
        Assert.Equal(2, cv["recipe"]!["members"]!.GetValue<int>());
        // The cross-validation's ensemble holds every member of every fold.
        using var all = Predictor.Load(result.EnsemblePath!, float32);
        Assert.Equal(6, all.Members);
        Assert.Equal(OptionName.Members, Assert.Throws<OptionException>(() => CrossValidation.Run(Request(dir) with { Members = 0 })).Option);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ResumeKeepsFinishedFolds()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 6, size: 32, prefix: "data");
        var first = CrossValidation.Run(Request(dir));
        // Every fold's model is stamped with a date no run can write, so a rewritten file shows
        // whatever the clock's resolution and however fast the folds train.
        var stamp = new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        foreach (var fold in first.Folds) File.SetLastWriteTimeUtc(fold.ModelPath, stamp);
        File.Delete(dir.File("cv", "fold-3", "cv-fold.json"));  // as if the run had stopped during fold 3

        var resumed = CrossValidation.Run(Request(dir, resume: true));
        Assert.Equal(first.Folds.Take(2).Select(f => f.Metrics["accuracy"]), resumed.Folds.Take(2).Select(f => f.Metrics["accuracy"]));
        Assert.All(resumed.Folds.Take(2), f => Assert.Equal(stamp, File.GetLastWriteTimeUtc(f.ModelPath)));
        Assert.NotEqual(stamp, File.GetLastWriteTimeUtc(resumed.Folds[2].ModelPath));  // fold 3 was trained again
        Assert.Equal(12, resumed.OutOfFold.Count);

        var otherFolds = Assert.Throws<OptionException>(() => CrossValidation.Run(Request(dir, resume: true) with { Folds = 2 }));
        Assert.Equal(OptionName.Resume, otherFolds.Option);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void MultiLabelDataIsCrossValidatedWithItsOwnMetrics()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 4, size: 32, prefix: "data");
        File.WriteAllLines(dir.File("labels.csv"), new[] { "file,labels" }.Concat(Directory.GetFiles(dir.File("data"), "*.png", SearchOption.AllDirectories).Order()
            .Select((f, i) => $"{Path.GetRelativePath(dir.File("data"), f)},{(i % 2 == 0 ? "a b" : "a")}")));
        var request = Request(dir) with { Folds = 2 };
        var result = CrossValidation.Run(request with { Recipe = request.Recipe with { Data = new DataSource(dir.File("data")) { Csv = dir.File("labels.csv") } } });
        Assert.Same(Lumen.Tasks.ImageTask.MultiLabel, result.Task);
        Assert.Equal(new[] { "accuracy_multi", "f1_samples" }, result.MetricNames);
        Assert.Equal(8, result.OutOfFold.Count);
        Assert.Contains(result.OutOfFold, p => p.Actual.Count == 2);
        Assert.Null(result.Confusion());  // no confusion matrix for label sets
        var cv = JsonNode.Parse(File.ReadAllText(dir.File("cv", "cv.json")))!;
        Assert.Equal("multi-label", cv["task"]!.GetValue<string>());
        Assert.Equal(result.Summary.Mean, cv["accuracy_multi"]!["mean"]!.GetValue<double>(), 9);
        Assert.False(File.Exists(dir.File("cv", "confusion_matrix.png")));
    }
}

/// <summary>The batch size and epochs a training run chooses when the request leaves them open.</summary>
public class SmallDataDefaultsTests
{
    [Theory]
    [InlineData(8000, 64, 4)]    // a Kvasir-sized set: fastai's bs 64 and 4 epochs (125 steps each)
    [InlineData(2000, 64, 9)]    // 31 steps per epoch: 288 steps in 9 epochs
    [InlineData(768, 32, 12)]    // 24 steps per epoch at 32
    [InlineData(384, 16, 12)]    // the 480-image brain-MRI sample's 80%: 24 steps per epoch at 16
    [InlineData(320, 16, 12)]    // 3-fold CV of it: 20 steps per epoch at 16 (capped)
    [InlineData(20, 8, 12)]      // 2 steps per epoch: capped at 12 epochs
    public void SmallSetsGetSmallerBatchesAndMoreEpochs(int trainImages, int batchSize, int epochs)
    {
        Assert.Equal(batchSize, SmallDataDefaults.BatchSize(trainImages));
        Assert.Equal(epochs, SmallDataDefaults.Epochs(trainImages, batchSize));
    }
}

/// <summary><see cref="TrainingBudget"/>: what a time budget buys, and a budgeted run that makes an ensemble.</summary>
[Collection(nameof(MemoryCollection))]
public class TrainingBudgetTests
{
    // 0.1 s per image at 224 px (this 2-core VM trains resnet18 at about 10 img/s there), 2 s setup;
    // the brain-MRI sample's split: 384 training, 96 validation images, bs 16 (12 default epochs).
    private static readonly TrainingSpeed Vm = new(224, 0.1, 2);

    private static BudgetPlan Plan(TimeSpan budget, int? epochs = null, int maxSize = 224) =>
        TrainingBudget.Plan(budget, Vm, maxSize, 384, 96, 16, freezeEpochs: 1, epochs);

    [Fact]
    public void EstimateCountsEpochsValidationSetupAndScalesWithPixels()
    {
        // (1 + 7) epochs × (384 × 0.1 + 96 × 0.1 / 3) + 2 s setup + (64 × 0.1 / 3 + 2) s export.
        double expected = 8 * (38.4 + 3.2) + 2 + 64 * 0.1 / 3 + 2;
        Assert.Equal(expected, TrainingBudget.Estimate(Vm, 224, 7, 1, 384, 96).TotalSeconds, 6);
        double atHalf = 8 * (38.4 + 3.2) / 4 + 2 + 64 * 0.1 / 3 / 4 + 2;
        Assert.Equal(atHalf, TrainingBudget.Estimate(Vm, 112, 7, 1, 384, 96).TotalSeconds, 6);
    }

    [Fact]
    public void ABudgetBuysSizeFirstThenEpochsThenEnsembleMembers()
    {
        // 2,000 training and 500 validation images at bs 64: 31 steps per epoch, 9 default epochs;
        // one epoch at 224 px ~217 s, the default run ~2,173 s, 10 epochs ~2,389 s, 12 ~2,823 s.
        BudgetPlan PlanFor(TimeSpan budget) => TrainingBudget.Plan(budget, Vm, 224, 2000, 500, 64, freezeEpochs: 1, epochs: null);
        double Seconds(int size, int epochs) => TrainingBudget.Estimate(Vm, size, epochs, 1, 2000, 500).TotalSeconds;

        // 30 min (85% planned = 1,530 s): the default epochs fit only at 160 px; epochs are not raised below the largest size.
        var halfHour = PlanFor(TimeSpan.FromMinutes(30));
        Assert.Equal((160, 9, 1), (halfHour.Size, halfHour.Epochs, halfHour.Members));
        Assert.True(Seconds(192, 9) > 1530 && Seconds(160, 9) <= 1530);

        // 50 min (2,550 s): 224 px, and one epoch more than the default (11 would need ~2,606 s).
        var fiftyMinutes = PlanFor(TimeSpan.FromMinutes(50));
        Assert.Equal((224, 10, 1), (fiftyMinutes.Size, fiftyMinutes.Epochs, fiftyMinutes.Members));
        Assert.True(Seconds(224, 10) <= 2550 && Seconds(224, 11) > 2550);

        // 4 h (12,240 s): 12 epochs at 224 px, and as many such models as fit: 4 (5 would need ~14,114 s).
        var fourHours = PlanFor(TimeSpan.FromHours(4));
        Assert.Equal((224, 12, 4), (fourHours.Size, fourHours.Epochs, fourHours.Members));
        Assert.Contains("an ensemble of 4 models", fourHours.ToString());
        Assert.Equal(TrainingBudget.MaxMembers, PlanFor(TimeSpan.FromHours(6)).Members);
    }

    [Fact]
    public void GivenEpochsAndSizeAreKeptAndTooShortABudgetSaysWhatItNeeds()
    {
        var given = Plan(TimeSpan.FromHours(1), epochs: 3, maxSize: 160);
        Assert.Equal((160, 3), (given.Size, given.Epochs));
        Assert.Equal(TrainingBudget.MaxMembers, given.Members);

        // 20 s (17 planned) cannot fit 12 epochs even at 64 px (~48 s), but 2 (~14 s); 5 s fits nothing,
        // and the error names the budget and what the smallest plan needs.
        var shorter = Plan(TimeSpan.FromSeconds(20));
        Assert.Equal((64, 2, 1), (shorter.Size, shorter.Epochs, shorter.Members));
        var e = Assert.Throws<OptionException>(() => Plan(TimeSpan.FromSeconds(5)));
        Assert.Equal(OptionName.Budget, e.Option);
        Assert.Contains("(64 px, 1 unfrozen epoch(s)) needs about 13 s", e.Problem);  // (2 epochs × 3.4 s + 4.2 s) / 0.85
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ABudgetedRunMeasuresPlansAndAveragesMembersTrainedOnOneSplit()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green", "blue" }, 6, size: 32, prefix: "data");
        var request = new TrainRequest
        {
            Data = new DataSource(dir.File("data")),
            OutputFolder = dir.File("out"),
            DataOptions = new DataOptions { Item = new ItemTransform(32), Augment = AugmentOptions.None, Loader = new LoaderOptions { BatchSize = 4, Workers = 2 }, ValidPct = 0.34 },
            Weights = "none", Epochs = 1, FreezeEpochs = 0, Lr = 1e-3,
        };
        var notes = new NoteRecorder();
        var result = TrainingBudget.Run(request, TimeSpan.FromMinutes(30), notes, maxMembers: 2);

        Assert.Equal((32, 1, 2), (result.Plan.Size, result.Plan.Epochs, result.Plan.Members));
        Assert.Contains(notes.Notes, n => n.StartsWith("budget 30 min 00 s: 32 px, 1 unfrozen epoch, an ensemble of 2 models"));
        Assert.True(EnsembleFile.Is(dir.File("out", "model.lumen")));
        var validation = result.Members.Select(m => m.Learner.Data.Valid.Items.Select(i => i.Path).Order().ToList()).ToList();
        Assert.Equal(validation[0], validation[1]);
        Assert.Equal(6, validation[0].Count);
        Assert.NotEqual(result.Members[0].Learner.Data.Options.Seed, result.Members[1].Learner.Data.Options.Seed);
        Assert.True(File.Exists(dir.File("out", "member-2", "model.lumen")));
        Assert.Equal("accuracy", result.EnsembleScore?.Name);
        using var predictor = Predictor.Load(dir.File("out", "model.lumen"));
        Assert.Equal(2, predictor.Members);

        Assert.Equal(OptionName.Budget, Assert.Throws<OptionException>(() => TrainingBudget.Run(request with { Resume = true }, TimeSpan.FromMinutes(1))).Option);
    }

    private sealed class NoteRecorder : IProgressReporter
    {
        public List<string> Notes { get; } = new();

        public IProgressTask Start(string description, long total)
        {
            Notes.Add(description);
            return NullProgress.Instance;
        }

        public void Warn(string message) { }
    }
}
