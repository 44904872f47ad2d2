using Lumen.Augment;
using Lumen.Data;
using Lumen.Tests.Support;
using Lumen.Workflows;

namespace Lumen.Tests;

/// <summary>The ready progress reporter for library users: what a C# program prints while training.</summary>
[Collection(nameof(MemoryCollection))]
public class TextProgressTests
{
    [Fact]
    public void WritesSummariesCountsAndWarnings()
    {
        var output = new StringWriter();
        var progress = new TextProgress(output, interval: TimeSpan.Zero);
        using (var task = progress.Start("epoch 1", 3))
        {
            task.Advance();
            task.Advance();
            task.Complete("epoch 1  train_loss 0.5");
        }
        using (var task = progress.Start("Checking images", 2)) task.Advance(2);
        progress.Warn("3 duplicates");
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("epoch 1: 1/3 (33%, 0 s)", lines[0]);
        Assert.Equal("epoch 1: 2/3 (67%, 0 s)", lines[1]);
        Assert.Equal("epoch 1  train_loss 0.5", lines[2]);
        Assert.StartsWith("Checking images: 2/2 in ", lines[3]);
        Assert.Equal("warning: 3 duplicates", lines[4]);
        Assert.Equal(5, lines.Length);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ATrainingRunPrintsItsEpochTable()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 6, size: 32, prefix: "data");
        var output = new StringWriter();
        TrainWorkflow.Run(new TrainRequest
        {
            Data = new DataSource(dir.File("data")), OutputFolder = dir.File("run"), Weights = "none", Epochs = 1, FreezeEpochs = 1, Lr = 1e-3,
            DataOptions = new DataOptions { Item = new ItemTransform(32), Augment = AugmentOptions.None, Loader = new LoaderOptions { BatchSize = 4, Workers = 2 } },
        }, new TextProgress(output));
        string text = output.ToString();
        Assert.Contains("epoch 1 (frozen)  train_loss", text);
        Assert.Contains("epoch 2 (unfrozen)  train_loss", text);
        Assert.Contains("accuracy", text);
        Assert.DoesNotContain("recipe:", text);  // batch size and epochs were given
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ValidPctZeroTrainsOnEveryImageAndSaysThereIsNoValidation()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 6, size: 32, prefix: "data");
        var options = new DataOptions { ValidPct = 0, Item = new ItemTransform(32), Augment = AugmentOptions.None, Loader = new LoaderOptions { BatchSize = 4, Workers = 2 } };
        TrainRequest Request(string run) => new()
        {
            Data = new DataSource(dir.File("data")), OutputFolder = dir.File(run), Weights = "none", Epochs = 1, FreezeEpochs = 1, Lr = 1e-3, DataOptions = options,
        };
        var output = new StringWriter();
        var result = TrainWorkflow.Run(Request("run"), new TextProgress(output));
        Assert.Equal(12, result.Learner.Data.Train.Items.Count);
        Assert.Empty(result.Learner.Data.Valid.Items);
        Assert.All(result.Learner.History, r => Assert.True(double.IsNaN(r.ValidLoss) && r.Metrics.Count == 0));
        Assert.Contains("epoch 2 (unfrozen)  train_loss", output.ToString());
        Assert.Contains("no validation set", output.ToString());
        using (var model = Lumen.Inference.ModelFile.Load(result.ModelPath!)) Assert.Equal(12, model.Images!.Train.Count);
        Assert.True(File.Exists(dir.File("run", "losses.png")));

        var e = Assert.Throws<OptionException>(() => TrainWorkflow.Run(Request("stopping") with { EarlyStopping = 2 }));
        Assert.Equal(OptionName.ValidPct, e.Option);
        Assert.Contains("no validation images", e.Message);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ARunLeftOpenChoosesAndSaysItsBatchSizeAndEpochs()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 6, size: 32, prefix: "data");
        var output = new StringWriter();
        var result = TrainWorkflow.Run(new TrainRequest
        {
            Data = new DataSource(dir.File("data")), OutputFolder = dir.File("run"), Weights = "none", FreezeEpochs = 0, Lr = 1e-3,
            DataOptions = new DataOptions { Item = new ItemTransform(32), Augment = AugmentOptions.None, Loader = new LoaderOptions { Workers = 2 } },
        }, new TextProgress(output));
        Assert.Equal(8, result.BatchSize);
        Assert.Equal(8, result.Learner.Data.Train.BatchSize);
        Assert.Equal(SmallDataDefaults.MaxEpochs, result.Epochs);
        Assert.Equal(SmallDataDefaults.MaxEpochs, result.Learner.History.Count);
        Assert.Contains($"recipe: batch size 8, 0 frozen + {SmallDataDefaults.MaxEpochs} unfrozen epochs (batch size and epochs chosen for 10 training images)", output.ToString());
    }
}
