using Lumen.Data;
using Lumen.Tests.Support;

namespace Lumen.Tests;

public class AuditTests
{
    [Fact]
    public void UnreadableFilesAreListedAndSkipped()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 5);
        byte[] good = File.ReadAllBytes(dir.File("a", "img000.png"));
        string truncated = dir.Write("a/truncated.png", good[..(good.Length / 2)]);
        string garbage = dir.Write("b/garbage.jpg", "not a jpeg at all"u8.ToArray());

        var dls = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 2 } });

        Assert.Equal(new[] { truncated, garbage }, dls.Audit.Unreadable.Select(u => u.Path));
        Assert.Equal(10, dls.Train.Items.Count + dls.Valid.Items.Count);
        Assert.Contains(dls.Audit.Warnings, w => w.Contains("could not be read"));
    }

    [Fact]
    public void NothingReadableIsAnError()
    {
        using var dir = new TempFolder();
        dir.Write("a/x.png", "junk"u8.ToArray());
        dir.Write("b/y.png", "junk"u8.ToArray());
        var e = Assert.Throws<DataException>(() => ImageDataLoaders.FromFolder(dir.Path));
        Assert.Contains("could be read", e.Message);
    }

    [Fact]
    public void DuplicatesAcrossTheSplitAreReportedAsLeakage()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 10);
        // Copy every 'a' image into a second file: with a random split some pairs straddle train/valid.
        for (int i = 0; i < 10; i++) File.Copy(dir.File("a", $"img{i:D3}.png"), dir.File("a", $"copy{i:D3}.png"));
        var warnings = new List<string>();

        var dls = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(16) }, progress: new RecordingProgress(warnings));

        Assert.Equal(10, dls.Audit.Duplicates.Count);
        Assert.All(dls.Audit.Duplicates, d => Assert.Equal(2, d.Paths.Count));
        Assert.NotEmpty(dls.Audit.Leaks);
        Assert.Contains(warnings, w => w.StartsWith("LEAKAGE"));
    }

    [Fact]
    public void ImbalanceIsWarned()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "big" }, 15);
        dir.AddClasses(new[] { "small" }, 5, seedBase: 77);
        var dls = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(16) });
        Assert.Contains(dls.Audit.Warnings, w => w.Contains("imbalanced") && w.Contains("'big' has 15") && w.Contains("'small' only 5"));
        Assert.Equal(new[] { (3, 12), (1, 4) }, dls.Audit.Counts.Select(c => (c.Valid, c.Train)));
    }

    private sealed class RecordingProgress(List<string> warnings) : IProgressReporter
    {
        public IProgressTask Start(string description, long total) => NullProgress.Instance;

        public void Warn(string message) => warnings.Add(message);
    }
}
