using Lumen.Inference;
using System.Text.Json.Nodes;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Tests.Support;
using Lumen.Workflows;

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
        Assert.Equal("Folds", Assert.Throws<OptionException>(() => Splitter.KFold(1, 0)).Option);
        Assert.Equal("Fold", Assert.Throws<OptionException>(() => Splitter.KFold(3, 3)).Option);
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
            Assert.Equal(rows.Count(p => p.Actual == p.Predicted) / (double)rows.Count, fold.Accuracy, 9);
            Assert.True(File.Exists(fold.ModelPath));
        }
        var accuracies = result.Folds.Select(f => f.Accuracy).ToList();
        double mean = accuracies.Average();
        Assert.Equal(mean, result.Accuracy.Mean, 9);
        Assert.Equal(Math.Sqrt(accuracies.Sum(a => (a - mean) * (a - mean)) / 2), result.Accuracy.Sd, 9);

        var cv = JsonNode.Parse(File.ReadAllText(dir.File("cv", "cv.json")))!;
        Assert.Equal(3, cv["per_fold"]!.AsArray().Count);
        Assert.Equal(result.Accuracy.Mean, cv["accuracy"]!["mean"]!.GetValue<double>(), 9);
        Assert.Equal(18, cv["out_of_fold_confusion_matrix"]!.AsArray().SelectMany(r => r!.AsArray()).Sum(v => v!.GetValue<long>()));
        var csv = File.ReadAllLines(dir.File("cv", "oof.csv"));
        Assert.Equal("file,fold,actual,predicted,p_blue,p_green,p_red", csv[0]);
        Assert.Equal(19, csv.Length);
        Assert.True(new FileInfo(dir.File("cv", "confusion_matrix.png")).Length > 1000);
    }

    [Fact]
    public void TheEnsembleOfTheFoldModelsAveragesTheirProbabilities()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green", "blue" }, 6, size: 32, prefix: "data");
        var result = CrossValidation.Run(Request(dir) with { Ensemble = true });
        Assert.Equal(dir.File("cv", "ensemble.lumen"), result.EnsemblePath);
        Assert.True(ModelFile.IsEnsemble(result.EnsemblePath!));
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

    [Fact]
    public void ResumeKeepsFinishedFolds()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 6, size: 32, prefix: "data");
        var first = CrossValidation.Run(Request(dir));
        var written = first.Folds.Select(f => File.GetLastWriteTimeUtc(f.ModelPath)).ToList();
        File.Delete(dir.File("cv", "fold-3", "cv-fold.json"));  // as if the run had stopped during fold 3

        var resumed = CrossValidation.Run(Request(dir, resume: true));
        Assert.Equal(first.Folds.Take(2).Select(f => f.Accuracy), resumed.Folds.Take(2).Select(f => f.Accuracy));
        Assert.Equal(written.Take(2), resumed.Folds.Take(2).Select(f => File.GetLastWriteTimeUtc(f.ModelPath)));
        Assert.True(File.GetLastWriteTimeUtc(resumed.Folds[2].ModelPath) > written[2], "fold 3 was trained again");
        Assert.Equal(12, resumed.OutOfFold.Count);

        var otherFolds = Assert.Throws<OptionException>(() => CrossValidation.Run(Request(dir, resume: true) with { Folds = 2 }));
        Assert.Equal("Resume", otherFolds.Option);
    }

    [Fact]
    public void MultiLabelDataIsRefusedBeforeTraining()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 4, size: 32, prefix: "data");
        File.WriteAllLines(dir.File("labels.csv"), new[] { "file,labels" }.Concat(Directory.GetFiles(dir.File("data"), "*.png", SearchOption.AllDirectories)
            .Select((f, i) => $"{Path.GetRelativePath(dir.File("data"), f)},{(i % 2 == 0 ? "a b" : "a")}")));
        var request = Request(dir);
        var e = Assert.Throws<DataException>(() => CrossValidation.Run(request with { Recipe = request.Recipe with { Data = new DataSource(dir.File("data")) { Csv = dir.File("labels.csv") } } }));
        Assert.Contains("single-label", e.Message);
        Assert.False(File.Exists(dir.File("cv", "fold-1", "model.lumen")));
    }
}

/// <summary>The batch size and epochs a training run chooses when the request leaves them open.</summary>
public class SmallDataDefaultsTests
{
    [Theory]
    [InlineData(8000, 64, 4)]    // a Kvasir-sized set: fastai's bs 64 and 4 epochs (125 steps each)
    [InlineData(2000, 64, 5)]    // 31 steps per epoch: 160 steps in 5 epochs
    [InlineData(768, 32, 7)]     // 24 steps per epoch at 32
    [InlineData(384, 16, 7)]     // the 480-image brain-MRI sample's 80%: 24 steps per epoch at 16
    [InlineData(320, 16, 8)]     // 3-fold CV of it: 20 steps per epoch at 16
    [InlineData(20, 8, 12)]      // 2 steps per epoch: capped at 12 epochs
    public void SmallSetsGetSmallerBatchesAndMoreEpochs(int trainImages, int batchSize, int epochs)
    {
        Assert.Equal(batchSize, SmallDataDefaults.BatchSize(trainImages));
        Assert.Equal(epochs, SmallDataDefaults.Epochs(trainImages, batchSize));
    }
}
