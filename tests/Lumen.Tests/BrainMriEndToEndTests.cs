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
        var dls = ImageDataLoaders.FromFolder(BrainMri.Folder!, new DataOptions { Size = 64, BatchSize = 32 });

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
