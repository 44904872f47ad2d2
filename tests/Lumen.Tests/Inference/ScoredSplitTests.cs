using Lumen.Augment;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Tests.Support;
using Lumen.Training;

namespace Lumen.Tests;

/// <summary>The model file knows its training images, so scoring them is flagged and avoidable.</summary>
public class ScoredSplitTests
{
    [Trait("Category", Category.Slow)]
    [Fact]
    public void EvaluatingTheTrainingFolderIsFlaggedAndSplitValidScoresOnlyValidationImages()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 10, size: 32);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4 }, Augment = AugmentOptions.None });
        var learner = VisionLearner.Create(data, "resnet18", pretrained: false);
        learner.FitOneCycle(1, 1e-3);
        string path = dir.File("out", "model.lumen");
        learner.Export(path);
        using var predictor = Predictor.Load(path);
        Assert.NotNull(predictor.Images);

        var items = Evaluation.LabelledItems(predictor, dir.Path);
        var all = Evaluation.SelectSplit(predictor, items, ScoreSplit.All);
        Assert.Equal(20, all.Items.Count);
        Assert.Equal(data.Train.Items.Count, all.Trained);
        Assert.Contains($"{data.Train.Items.Count} of the 20 images were used to train", all.TrainedOnWarning(ScoreSplit.All));

        var valid = Evaluation.SelectSplit(predictor, items, ScoreSplit.Valid);
        Assert.Equal(data.Valid.Items.Select(i => i.Path).Order(), valid.Items.Select(i => i.Path).Order());
        Assert.Null(valid.TrainedOnWarning(ScoreSplit.Valid));

        // A copy of a training image under another name and folder is still recognised by its content.
        using var heldOut = new TempFolder();
        heldOut.AddClasses(new[] { "red", "green" }, 3, size: 32, seedBase: 500);
        File.Copy(data.Train.Items[0].Path, heldOut.File(data.Train.Items[0].Labels[0], "renamed.png"));
        var heldItems = Evaluation.LabelledItems(predictor, heldOut.Path);
        var scored = Evaluation.SelectSplit(predictor, heldItems, ScoreSplit.All);
        Assert.Equal(1, scored.Trained);
        var unseen = Evaluation.SelectSplit(predictor, heldItems, ScoreSplit.Unseen);
        Assert.Equal(6, unseen.Items.Count);
        Assert.DoesNotContain(unseen.Items, i => i.Path.EndsWith("renamed.png"));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void AModelWithoutTheRecordRefusesSplitValidClearly()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 2, size: 32);
        using var predictor = Predictor.Load(TinyModel.Save(dir.File("old.lumen")));
        Assert.Null(predictor.Images);
        var items = Evaluation.LabelledItems(predictor, dir.Path);
        Assert.Equal(4, Evaluation.SelectSplit(predictor, items, ScoreSplit.All).Items.Count);
        var e = Assert.Throws<OptionException>(() => Evaluation.SelectSplit(predictor, items, ScoreSplit.Valid));
        Assert.Contains("does not record", e.Message);
    }
}
