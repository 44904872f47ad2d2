using Lumen.Data;
using Lumen.Tasks;
using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>The two classification tasks: what evaluation, prediction and model files rely on.</summary>
public class ImageTaskTests
{
    [Theory]
    [InlineData("single-label")]
    [InlineData("multi-label")]
    [InlineData("segmentation")]
    [InlineData("detection")]
    public void TasksAreFoundByTheNameModelFilesRecord(string name)
    {
        var task = ImageTask.Named(name);
        Assert.Equal(name, task.Name);
        string json = System.Text.Json.JsonSerializer.Serialize(task);
        Assert.Equal($"\"{name}\"", json);
        Assert.Same(task, System.Text.Json.JsonSerializer.Deserialize<ImageTask>(json));
    }

    [Fact]
    public void AnUnknownTaskNameIsRefusedWithTheKnownOnes()
    {
        var e = Assert.Throws<LumenException>(() => ImageTask.Named("keypoints"));
        Assert.Contains("single-label, multi-label, segmentation, detection", e.Message);
    }

    /// <summary>Evaluation recovers logits from a saved model's probabilities; the task's probabilities must give them back.</summary>
    [Theory]
    [InlineData("single-label")]
    [InlineData("multi-label")]
    public void LogitsOfProbabilitiesGiveTheProbabilitiesBack(string name)
    {
        var task = ImageTask.Named(name);
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 2f, -1f, 0.5f, -3f, 0f, 4f }, new long[] { 2, 3 });
        var probabilities = task.Probabilities(logits);
        var again = task.Probabilities(task.Logits(probabilities));
        Assert.True(again.allclose(probabilities, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void SingleLabelDecidesTheBestClassAndMultiLabelEveryClassAboveTheThreshold()
    {
        float[] probabilities = { 0.2f, 0.7f, 0.6f };
        Assert.Equal(new[] { 1 }, ImageTask.SingleLabel.Decide(probabilities, best: 1, threshold: 0.5));
        Assert.Equal(new[] { 1, 2 }, ImageTask.MultiLabel.Decide(probabilities, best: 1, threshold: 0.5));
        Assert.Equal(new[] { 1 }, ImageTask.MultiLabel.Decide(probabilities, best: 1, threshold: 0.65));
        Assert.Empty(ImageTask.MultiLabel.Decide(probabilities, best: 1, threshold: 0.9));
    }

    [Fact]
    public void TargetsAreClassIndicesOrMultiHotRows()
    {
        var vocab = new Vocabulary(new[] { "a", "b", "c" });
        var items = new[] { new LabelledItem("x.png", new[] { "c" }), new LabelledItem("y.png", new[] { "a", "b" }) };
        using var indices = ImageTask.SingleLabel.Targets(items.Take(1).ToList(), vocab, CPU);
        Assert.Equal(new[] { 2L }, indices.data<long>().ToArray());
        using var hot = ImageTask.MultiLabel.Targets(items, vocab, CPU);
        Assert.Equal(new[] { 0f, 0f, 1f, 1f, 1f, 0f }, hot.data<float>().ToArray());
    }

    [Fact]
    public void OnlyTheSingleLabelTaskHasAConfusionMatrix()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 2f, 0f, 0f, 3f, 1f, 0f }, new long[] { 3, 2 });
        var confusion = ImageTask.SingleLabel.ConfusionMatrix(logits, tensor(new long[] { 0, 1, 1 }), 2)!;
        Assert.Equal(new long[,] { { 1, 0 }, { 1, 1 } }, confusion);
        Assert.Null(ImageTask.MultiLabel.ConfusionMatrix(logits, zeros(3, 2), 2));
    }

    [Fact]
    public void EachTaskReportsItsOwnMetricsByDefault()
    {
        Assert.Equal(new[] { "error_rate", "accuracy", "f1_score", "matthews_corrcoef" }, ImageTask.SingleLabel.DefaultMetrics(4).Select(m => m.Name));
        Assert.Contains("top_5_accuracy", ImageTask.SingleLabel.DefaultMetrics(8).Select(m => m.Name));
        Assert.Equal(new[] { "accuracy_multi", "f1_samples" }, ImageTask.MultiLabel.DefaultMetrics(4).Select(m => m.Name));
        Assert.Equal("bce_with_logits", ImageTask.MultiLabel.DefaultLoss(Array.Empty<LabelledItem>(), new Vocabulary(new[] { "a", "b" }), new TrainingOptions()).Name);
    }
}
