using Lumen.Data;
using Lumen.Tests.Support;

namespace Lumen.Tests;

/// <summary>Symbolic links and unreadable folders in a dataset folder.</summary>
public class FolderWalkTests
{
    [Fact]
    public void ALinkCycleIsReportedOnceAndEveryImageCountedOnce()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 5);
        // Each class folder links to its parent: followed blindly this nests ~40 levels deep.
        File.CreateSymbolicLink(dir.File("a", "up"), dir.Path);
        File.CreateSymbolicLink(dir.File("b", "up"), "..");
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(16) });
        Assert.Equal(10, data.Train.Items.Count + data.Valid.Items.Count);
        Assert.Empty(data.Audit.Duplicates);
        var cycles = data.Audit.Warnings.Where(w => w.Contains("cycle")).ToList();
        Assert.Equal(2, cycles.Count);
        Assert.Contains(cycles, w => w.Contains(dir.File("a", "up")));
    }

    [Fact]
    public void ALinkToASiblingClassDoesNotCountItsImagesTwice()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 5);
        Directory.CreateSymbolicLink(dir.File("b", "also_a"), dir.File("a"));
        var listing = FolderSource.Scan(dir.Path);
        Assert.Equal(10, listing.Items.Count);
        // The real folder wins over the path through the link, so labels stay right.
        Assert.Equal(5, listing.Items.Count(i => i.Labels[0] == "a"));
        Assert.DoesNotContain(listing.Items, i => i.Path.Contains("also_a"));
    }

    [Fact]
    public void LinkedFilesAndFoldersFromElsewhereAreFollowed()
    {
        using var elsewhere = new TempFolder();
        elsewhere.AddClasses(new[] { "c" }, 3);
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 3);
        Directory.CreateSymbolicLink(dir.File("c"), elsewhere.File("c"));
        string loose = elsewhere.Write("loose.png", TestImages.Encode(TestImages.Pattern(24, 24, 99), SkiaSharp.SKEncodedImageFormat.Png));
        File.CreateSymbolicLink(dir.File("a", "linked.png"), loose);
        var listing = FolderSource.Scan(dir.Path);
        Assert.Equal(3, listing.Items.Count(i => i.Labels[0] == "c"));
        Assert.Contains(listing.Items, i => i.Path == dir.File("a", "linked.png") && i.Labels[0] == "a");
        Assert.Equal(10, listing.Items.Count);
    }

    [Fact]
    public void ADanglingLinkIsReportedAsUnreadable()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 5);
        File.CreateSymbolicLink(dir.File("a", "gone.png"), dir.File("nowhere.png"));
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(16) });
        var bad = Assert.Single(data.Audit.Unreadable);
        Assert.Equal(dir.File("a", "gone.png"), bad.Path);
        Assert.Contains("broken symbolic link", bad.Reason);
        Assert.Equal(10, data.Train.Items.Count + data.Valid.Items.Count);
    }

    [Trait("Category", Category.Process)]
    [Trait("Category", Category.Slow)]
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void AFolderWithoutReadPermissionIsReportedNotFatal()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b", "c" }, 4);
        string locked = dir.File("c");
        File.SetUnixFileMode(locked, UnixFileMode.None);
        try
        {
            // Root reads any folder, so the CLI runs without the capabilities that allow that.
            var psi = LumenProcess.WithoutPermissionOverride(new[] { "data", dir.Path, "--size", "16" });
            Assert.True(psi is not null, "capsh is needed to test permissions as root (Debian package libcap2-bin)");
            var (code, output) = LumenProcess.Run(psi!, TimeSpan.FromMinutes(2));
            Assert.True(code == 0, output);
            Assert.Contains($"folder '{locked}' cannot be read", output);
            Assert.Contains("2 classes", output);
        }
        finally
        {
            File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void RealPathResolvesEveryLinkInThePath()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir.File("real", "inner"));
        Directory.CreateSymbolicLink(dir.File("link"), dir.File("real"));
        Assert.Equal(FolderWalk.RealPath(dir.File("real", "inner")), FolderWalk.RealPath(dir.File("link", "inner")));
        File.CreateSymbolicLink(dir.File("loop1"), dir.File("loop2"));
        File.CreateSymbolicLink(dir.File("loop2"), dir.File("loop1"));
        Assert.Throws<IOException>(() => FolderWalk.RealPath(dir.File("loop1")));
    }
}
