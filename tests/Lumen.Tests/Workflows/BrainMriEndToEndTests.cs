using Lumen.Data;
using Lumen.Tests.Support;

namespace Lumen.Tests;

/// <summary>End-to-end checks on the real 480-image brain-MRI development set (skipped when absent).</summary>
[Collection(nameof(ConsoleCollection))]
public class BrainMriEndToEndTests
{
    [BrainMriFact]
    public void LoadsFourClassesWithA96To24StratifiedSplit()
    {
        var dls = ImageDataLoaders.FromFolder(BrainMri.Folder!, new DataOptions { Item = new ItemTransform(64), Loader = new LoaderOptions { BatchSize = 32 } });

        Assert.Equal(new[] { "glioma", "meningioma", "notumor", "pituitary" }, dls.Vocab.Classes);
        Assert.All(dls.Audit.Counts, c => Assert.Equal((96, 24), (c.Train, c.Valid)));
        Assert.Empty(dls.Audit.Unreadable);
        Assert.Empty(dls.Audit.Leaks);

        using var batch = dls.Train.Batches().First();
        Assert.Equal(new long[] { 32, 3, 64, 64 }, batch.Images.shape);
        // Normalised with ImageNet statistics: roughly zero-centred, unit-scale values.
        float mean = batch.Images.mean().item<float>();
        Assert.InRange(mean, -2f, 1f);
    }

    [BrainMriFact]
    public void CliDataAndShowBatchRunOnTheRealSet()
    {
        Assert.Equal(0, Lumen.Cli.Program.Main(new[] { "data", BrainMri.Folder! }));
        using var dir = new TempFolder();
        string png = dir.File("batch.png");
        Assert.Equal(0, Lumen.Cli.Program.Main(new[] { "show-batch", BrainMri.Folder!, "--out", png, "--aug", "endoscopy", "--size", "128" }));
        Assert.True(new FileInfo(png).Length > 10_000);
    }
}

/// <summary>The main job on the real set: train with the CLI, then predict and evaluate with its model file.</summary>
[Collection(nameof(ConsoleCollection))]
public class BrainMriTrainingTests
{
    [Trait("Category", Category.Slow)]
    [BrainMriFact]
    public void TrainPredictEvaluateOnTheRealSet()
    {
        using var dir = new TempFolder();
        string outDir = dir.File("run");
        int code = Lumen.Cli.Program.Main(new[] { "train", BrainMri.Folder!, "--size", "96", "--epochs", "2", "--out", outDir, "--report" });
        Assert.Equal(0, code);
        foreach (string file in new[] { "model.lumen", "history.csv", "history.json", "losses.png", "metrics.png", "checkpoint.lumenckpt",
                     "report.html", "metrics.json", "confusion_matrix.png", "top_losses_gradcam.png", "calibration.png" })
            Assert.True(File.Exists(Path.Combine(outDir, file)), file);
        var info = Lumen.Inference.ModelFile.ReadInfo(Path.Combine(outDir, "model.lumen"));
        // Four balanced classes: chance is 25%.
        Assert.True(info.Training.Metrics["accuracy"] > 0.5, $"validation accuracy {info.Training.Metrics["accuracy"]:P1}");
        Assert.Equal(0, Lumen.Cli.Program.Main(new[] { "predict", Path.Combine(outDir, "model.lumen"), Path.Combine(BrainMri.Folder!, "glioma"), "--out", dir.File("p.csv") }));
        Assert.Equal(121, File.ReadAllLines(dir.File("p.csv")).Length);
        Assert.Equal(0, Lumen.Cli.Program.Main(new[] { "evaluate", Path.Combine(outDir, "model.lumen"), BrainMri.Folder! }));
        string report = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("Augmentation examples", report);
        Assert.Contains("glioma", report);
        string interpretDir = dir.File("interpret");
        Assert.Equal(0, Lumen.Cli.Program.Main(new[] { "interpret", Path.Combine(outDir, "model.lumen"), Path.Combine(BrainMri.Folder!), "--top-losses", "8", "--out", interpretDir }));
        Assert.Contains("Training", File.ReadAllText(Path.Combine(interpretDir, "report.html"))); // history found next to the model
    }
}
