using Lumen.Data;
using Lumen.Imaging;
using Lumen.Tests.Support;
using static TorchSharp.torch;

namespace Lumen.Tests;

public class DataLoaderTests
{
    private static ImageDataLoaders Load(TempFolder dir, DataOptions? options = null) =>
        ImageDataLoaders.FromFolder(dir.Path, options ?? new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 4, Workers = 2 } });

    [Fact]
    public void BatchesHaveTheRightShapesTargetsAndNormalisation()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b", "c" }, 10, size: 30);
        var dls = Load(dir);

        Assert.Equal(24, dls.Train.Items.Count);
        Assert.Equal(6, dls.Valid.Items.Count);
        var batches = dls.Train.Batches().ToList();
        Assert.Equal(6, batches.Count);
        foreach (var b in batches)
        {
            Assert.Equal(new long[] { 4, 3, 16, 16 }, b.Images.shape);
            Assert.Equal(ScalarType.Int64, b.Targets.dtype);
            var expected = b.Items.Select(i => (long)dls.Vocab.IndexOf(i.Labels[0])).ToArray();
            Assert.Equal(expected, b.Targets.data<long>().ToArray());
            b.Dispose();
        }
        // Validation keeps the last partial batch: 6 items in batches of 4 → 4 + 2.
        Assert.Equal(new[] { 4, 2 }, dls.Valid.Batches().Select(b => { using (b) return b.Count; }));
    }

    [Fact]
    public void TrainingDropsTheLastPartialBatchAndShufflesPerEpochReproducibly()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 11, size: 20);
        var dls = Load(dir, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 4, Workers = 2 }, ValidPct = 0.2 });

        Assert.Equal(18, dls.Train.Items.Count);
        Assert.Equal(4, dls.Train.BatchCount);
        List<string> Order(DataLoader loader, int epoch) => loader.Batches(epoch).SelectMany(b => { using (b) return b.Items.Select(i => i.Path).ToList(); }).ToList();
        var e0 = Order(dls.Train, 0);
        Assert.Equal(16, e0.Count);
        Assert.Equal(e0, Order(dls.Train, 0));
        Assert.NotEqual(e0, Order(dls.Train, 1));
        Assert.Equal(e0, Order(Load(dir, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 4, Workers = 1 } }).Train, 0));
    }

    [Fact]
    public void TrainingBatchesAreReproducibleForASeedAndValidationIsNeverAugmented()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 6, size: 24);
        var dls = Load(dir, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 8, Workers = 2 }, Augment = Lumen.Augment.AugmentOptions.Endoscopy });

        Tensor First(DataLoader loader) { using var b = loader.Batches().First(); return b.Images.clone(); }
        using var t1 = First(dls.Train);
        using var t2 = First(Load(dir, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 8, Workers = 1 }, Augment = Lumen.Augment.AugmentOptions.Endoscopy }).Train);
        Assert.True(t1.allclose(t2, atol: 1e-6));

        // A validation image equals the plain decode → centre resize → normalise of its file.
        using var valid = dls.Valid.Batches().First();
        var direct = new ItemTransform(16).Apply(ImageDecoder.Decode(valid.Items[0].Path), null);
        using var expected = Normalization.ImageNet.Normalize(ImageTensor.Stack(new[] { direct }, CPU));
        Assert.True(valid.Images[0].allclose(expected[0], atol: 1e-5));
    }

    [Fact]
    public void InMemoryCacheGivesTheSameBatches()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 5, size: 40);
        var cached = Load(dir, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 4, CacheImages = true }, Augment = Lumen.Augment.AugmentOptions.None });
        var plain = Load(dir, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 4 }, Augment = Lumen.Augment.AugmentOptions.None });
        for (int epoch = 0; epoch < 2; epoch++)
        {
            using var a = cached.Train.Batches(epoch).First();
            using var b = plain.Train.Batches(epoch).First();
            Assert.True(a.Images.allclose(b.Images, atol: 1e-5));
        }
    }

    [Fact]
    public void AFileThatBreaksDuringTrainingStopsWithItsName()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 5, size: 20);
        var dls = Load(dir);
        string victim = dls.Valid.Items[0].Path;
        File.WriteAllText(victim, "overwritten");
        var e = Assert.Throws<ImageDecodeException>(() => dls.Valid.Batches().ToList().ForEach(b => b.Dispose()));
        Assert.Contains(victim, e.Message);
    }

    [Fact]
    public void ShowBatchRendersAGrid()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 6, size: 24);
        var dls = Load(dir, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 9 } });
        var grid = dls.ShowBatch(count: 6, cellSize: 64);
        Assert.True(grid.Width > 3 * 64 && grid.Height > 2 * 64, $"{grid.Width}x{grid.Height}");
        string png = dir.File("grid.png");
        grid.SavePng(png);
        var back = ImageDecoder.Decode(png);
        Assert.Equal((grid.Width, grid.Height), (back.Width, back.Height));
    }
}
