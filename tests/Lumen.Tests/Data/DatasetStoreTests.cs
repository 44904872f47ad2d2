using Lumen.Files;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using Lumen.Data;
using Lumen.Data.Datasets;
using Lumen.Imaging;
using Lumen.Tests.Support;
using SkiaSharp;

namespace Lumen.Tests;

/// <summary>Catalogue downloads against a local HTTP server (no network): resume, checksum, zip-slip, layouts.</summary>
public class DatasetStoreTests
{
    /// <summary>Serves one archive; can cut the first transfer short and honours Range requests.</summary>
    private sealed class ArchiveServer : IDisposable
    {
        private readonly HttpListener _listener = new();

        public ArchiveServer(byte[] payload, int cutFirstTransferAt = -1)
        {
            int port = Random.Shared.Next(20000, 60000);
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            Url = $"http://127.0.0.1:{port}/archive.zip";
            Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext c;
                    try { c = await _listener.GetContextAsync(); } catch { return; }
                    string? range = c.Request.Headers["Range"];
                    lock (Ranges) Ranges.Add(range);
                    long from = range is null ? 0 : long.Parse(range["bytes=".Length..].TrimEnd('-'));
                    if (from > 0)
                    {
                        c.Response.StatusCode = 206;
                        c.Response.AddHeader("Content-Range", $"bytes {from}-{payload.Length - 1}/{payload.Length}");
                    }
                    c.Response.ContentLength64 = payload.Length - from;
                    int end = cutFirstTransferAt > 0 && Ranges.Count == 1 ? cutFirstTransferAt : payload.Length;
                    try
                    {
                        await c.Response.OutputStream.WriteAsync(payload.AsMemory((int)from, end - (int)from));
                        if (end < payload.Length) { c.Response.Abort(); continue; }
                        c.Response.Close();
                    }
                    catch (HttpListenerException) { }
                }
            });
        }

        public string Url { get; }

        public List<string?> Ranges { get; } = new();

        public void Dispose() => _listener.Stop();
    }

    private static byte[] Zip(Action<ZipArchive> fill)
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true)) fill(zip);
        return memory.ToArray();
    }

    private static void AddImage(ZipArchive zip, string name, int seed)
    {
        using var entry = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        entry.Write(TestImages.Encode(TestImages.Pattern(16, 16, seed), SKEncodedImageFormat.Png));
    }

    private static byte[] KvasirLike(params string[] classes) => Zip(zip =>
    {
        int seed = 0;
        foreach (var c in classes)
            for (int i = 0; i < 3; i++) AddImage(zip, $"kvasir-dataset-v2/{c}/{i}.jpg".Replace(".jpg", ".png"), seed++);
    });

    private static DatasetEntry Entry(string url, string? sha = null, IReadOnlyList<string>? classes = null, int minClasses = 2) =>
        new("test-set", "test", url, 1000, sha, "test licence", "test citation", DatasetLayout.ClassFolders, "", null, classes ?? new[] { "polyps", "esophagitis" }, minClasses);

    [Fact]
    public void DownloadsVerifiesExtractsAndIsIdempotent()
    {
        using var dir = new TempFolder();
        byte[] archive = KvasirLike("polyps", "esophagitis", "normal-z-line");
        using var server = new ArchiveServer(archive);
        var store = new DatasetStore(dir.File("cache"));
        var entry = Entry(server.Url, Convert.ToHexString(SHA256.HashData(archive)));
        var warnings = new List<string>();

        var cached = store.Get(entry, new Recorder(warnings));
        var dls = ImageDataLoaders.FromFolder(cached.Folder, new DataOptions { Item = new ItemTransform(16), ValidPct = 0.34 });
        Assert.Equal(new[] { "esophagitis", "normal-z-line", "polyps" }, dls.Vocab.Classes);
        Assert.Contains(warnings, w => w.Contains("test licence") && w.Contains("test citation"));

        store.Get(entry);
        Assert.Single(server.Ranges); // the second Get used the cache
        Assert.Equal(cached.Folder, store.ResolveFolder(cached.Folder).Folder);
        var unknown = Assert.Throws<DataException>(() => store.ResolveFolder("no-such-folder-or-dataset"));
        Assert.Contains("kvasir-v2", unknown.Message);
    }

    [Fact]
    public void AnInterruptedDownloadResumesWithARangeRequest()
    {
        using var dir = new TempFolder();
        byte[] archive = KvasirLike("polyps", "esophagitis");
        using var server = new ArchiveServer(archive, cutFirstTransferAt: archive.Length / 2);
        // Without retries the cut transfer fails, keeps its bytes, and the next run resumes them.
        var store = new DatasetStore(dir.File("cache"), new Downloader { Retries = 0 });
        var entry = Entry(server.Url);

        var first = Assert.Throws<LumenException>(() => store.Get(entry));
        Assert.Contains("resumes", first.Message);
        Assert.True(File.Exists(store.ArchivePath(entry) + ".part"));

        var cached = store.Get(entry);
        Assert.Equal(new string?[] { null, $"bytes={archive.Length / 2}-" }, server.Ranges);
        Assert.Equal(archive, File.ReadAllBytes(store.ArchivePath(entry)));
        Assert.True(Directory.Exists(Path.Combine(cached.Folder, "kvasir-dataset-v2", "polyps")));
    }

    [Fact]
    public void ACutTransferIsRetriedAndResumedInTheSameRun()
    {
        using var dir = new TempFolder();
        byte[] archive = KvasirLike("polyps", "esophagitis");
        using var server = new ArchiveServer(archive, cutFirstTransferAt: archive.Length / 3);
        var warnings = new List<string>();
        var store = new DatasetStore(dir.File("cache"), new Downloader { FirstBackoff = TimeSpan.FromMilliseconds(10) });
        var entry = Entry(server.Url);

        store.Get(entry, new Recorder(warnings));
        Assert.Equal(new string?[] { null, $"bytes={archive.Length / 3}-" }, server.Ranges);
        Assert.Equal(archive, File.ReadAllBytes(store.ArchivePath(entry)));
        Assert.Contains(warnings, w => w.Contains("retrying"));
    }

    /// <summary>Serves a file whose content (and ETag) changes after the first, cut, transfer; honours If-Range.</summary>
    private sealed class ChangingServer : IDisposable
    {
        private readonly HttpListener _listener = new();

        public ChangingServer(byte[] first, byte[] second)
        {
            int port = Random.Shared.Next(20000, 60000);
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            Url = new Uri($"http://127.0.0.1:{port}/weights.pth");
            Task.Run(async () =>
            {
                int served = 0;
                while (_listener.IsListening)
                {
                    HttpListenerContext c;
                    try { c = await _listener.GetContextAsync(); } catch { return; }
                    var (payload, etag) = served++ == 0 ? (first, "\"v1\"") : (second, "\"v2\"");
                    string? range = c.Request.Headers["Range"], ifRange = c.Request.Headers["If-Range"];
                    lock (IfRanges) IfRanges.Add(ifRange);
                    long from = range is not null && (ifRange is null || ifRange == etag) ? long.Parse(range["bytes=".Length..].TrimEnd('-')) : 0;
                    c.Response.AddHeader("ETag", etag);
                    if (from > 0)
                    {
                        c.Response.StatusCode = 206;
                        c.Response.AddHeader("Content-Range", $"bytes {from}-{payload.Length - 1}/{payload.Length}");
                    }
                    c.Response.ContentLength64 = payload.Length - from;
                    int end = served == 1 ? payload.Length / 2 : payload.Length;
                    try
                    {
                        await c.Response.OutputStream.WriteAsync(payload.AsMemory((int)from, end - (int)from));
                        if (end < payload.Length) { c.Response.Abort(); continue; }
                        c.Response.Close();
                    }
                    catch (HttpListenerException) { }
                }
            });
        }

        public Uri Url { get; }

        public List<string?> IfRanges { get; } = new();

        public void Dispose() => _listener.Stop();
    }

    [Fact]
    public void AResumeOfAFileThatChangedStartsOverInsteadOfSplicingTwoVersions()
    {
        using var dir = new TempFolder();
        byte[] v1 = RandomNumberGenerator.GetBytes(100_000), v2 = RandomNumberGenerator.GetBytes(100_000);
        using var server = new ChangingServer(v1, v2);
        string destination = dir.File("weights.pth");
        new Downloader { FirstBackoff = TimeSpan.FromMilliseconds(10) }.Fetch(server.Url, destination, NullProgress.Instance, "weights", "offline: copy it by hand");
        Assert.Equal(new string?[] { null, "\"v1\"" }, server.IfRanges);  // the resume was conditional on the first version
        Assert.Equal(v2, File.ReadAllBytes(destination));  // the server said it changed: the whole new file, not half of each
    }

    [Fact]
    public void AChecksumMismatchKeepsTheFileAsideAndSaysSo()
    {
        using var dir = new TempFolder();
        using var server = new ArchiveServer(KvasirLike("polyps", "esophagitis"));
        var store = new DatasetStore(dir.File("cache"));
        var entry = Entry(server.Url, sha: new string('0', 64));
        var e = Assert.Throws<LumenException>(() => store.Get(entry));
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains(".corrupt", e.Message);
        Assert.True(File.Exists(store.ArchivePath(entry) + ".corrupt"));
        Assert.False(File.Exists(store.ArchivePath(entry)));
        Assert.Null(store.Cached(entry));
    }

    [Fact]
    public void AZipSlipEntryIsRejectedAndNothingEscapes()
    {
        using var dir = new TempFolder();
        byte[] evil = Zip(zip =>
        {
            AddImage(zip, "set/polyps/1.png", 1);
            using var e = zip.CreateEntry("../../escaped.txt").Open();
            e.Write("owned"u8.ToArray());
        });
        using var server = new ArchiveServer(evil);
        var store = new DatasetStore(dir.File("cache"));
        var e = Assert.Throws<UnsafeArchiveException>(() => store.Get(Entry(server.Url)));
        Assert.Contains("outside the dataset folder", e.Message);
        Assert.False(File.Exists(dir.File("escaped.txt")));
        Assert.False(File.Exists(Path.Combine(dir.Path, "..", "escaped.txt")));
    }

    [Fact]
    public void AnIncompleteArchiveIsNotUsed()
    {
        using var dir = new TempFolder();
        using var server = new ArchiveServer(KvasirLike("polyps"));
        var store = new DatasetStore(dir.File("cache"));
        var e = Assert.Throws<LumenException>(() => store.Get(Entry(server.Url)));
        Assert.Contains("missing esophagitis", e.Message);
        Assert.Null(store.Cached(Entry(server.Url)));
    }

    [Fact]
    public void OfflineGivesTheUrlAndTheManualRoute()
    {
        using var dir = new TempFolder();
        var store = new DatasetStore(dir.File("cache"));
        var entry = Entry("http://127.0.0.1:9/kvasir-dataset-v2.zip");
        var e = Assert.Throws<LumenException>(() => store.Get(entry));
        Assert.Contains("http://127.0.0.1:9/kvasir-dataset-v2.zip", e.Message);
        Assert.Contains("lumen datasets add test-set", e.Message);
    }

    [Fact]
    public void AddImportsAnArchiveDownloadedElsewhere()
    {
        using var dir = new TempFolder();
        string archive = dir.Write("downloads/k.zip", KvasirLike("polyps", "esophagitis"));
        var store = new DatasetStore(dir.File("cache"));
        var cached = store.Add(Entry("http://unused.invalid/k.zip"), archive);
        Assert.Equal(6, FolderSource.Scan(cached.Folder).Items.Count);
    }

    [Fact]
    public void AKvasirSegArchiveImportsAsImagesWithMasksAndAnIncompleteOneIsRefused()
    {
        using var dir = new TempFolder();
        byte[] SegmentationZip(bool dropMask) => Zip(zip =>
        {
            for (int i = 0; i < 3; i++)
            {
                var (image, mask) = SegmentationImages.Rectangle(20, 16, i);
                using (var entry = zip.CreateEntry($"Kvasir-SEG/images/p{i}.png").Open()) entry.Write(TestImages.Encode(image, SKEncodedImageFormat.Png));
                if (dropMask && i == 1) continue;
                var grey = RgbImage.Filled(20, 16, 0, 0, 0);
                for (int y = 0; y < 16; y++)
                    for (int x = 0; x < 20; x++) if (mask[x, y] == 1) grey.Set(x, y, 255, 255, 255);
                using (var entry = zip.CreateEntry($"Kvasir-SEG/masks/p{i}.jpg").Open()) entry.Write(TestImages.Encode(grey, SKEncodedImageFormat.Jpeg));
            }
        });
        var entry = DatasetCatalog.Find("kvasir-seg")! with { MinClasses = 3 };
        Assert.Equal(DatasetLayout.ImagesAndMasks, entry.Layout);
        var store = new DatasetStore(dir.File("cache"));
        var cached = store.Add(entry, dir.Write("k.zip", SegmentationZip(dropMask: false)));
        var layout = Lumen.Data.Masks.SegmentationSource.RecogniseLayout(cached.Folder);
        Assert.NotNull(layout);
        Assert.Equal(3, Lumen.Data.Masks.SegmentationSource.Scan(layout.Value.Images, layout.Value.Masks, Lumen.Data.Masks.MaskEncoding.Binary()).Items.Count);

        var broken = new DatasetStore(dir.File("cache2"));
        var e = Assert.ThrowsAny<LumenException>(() => broken.Add(entry, dir.Write("broken.zip", SegmentationZip(dropMask: true))));
        Assert.Contains("p1.png: no mask named p1.*", e.Message);
    }

    [Fact]
    public void TheBundledSampleResolvesByNameWithoutDownloading()
    {
        using var dir = new TempFolder();
        var store = new DatasetStore(dir.File("cache"), new Downloader(new HttpClient(new NoNetwork())));
        var (folder, regex) = store.ResolveFolder("brain-mri-sample");
        Assert.Null(regex);
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "samples", "brain-mri"), folder);
        var items = FolderSource.Scan(folder).Items;
        Assert.Equal(480, items.Count);
        Assert.All(items.GroupBy(i => i.Labels[0]), g => Assert.Equal(120, g.Count()));
        Assert.Equal(new[] { "glioma", "meningioma", "notumor", "pituitary" }, items.Select(i => i.Labels[0]).Distinct().Order());
        Assert.False(Directory.Exists(dir.File("cache")), "nothing is downloaded or cached");
        var e = Assert.Throws<LumenException>(() => store.Add(DatasetCatalog.Find("brain-mri-sample")!, dir.Write("x.zip", new byte[] { 1 })));
        Assert.Contains("ships with Lumen", e.Message);
    }

    private sealed class NoNetwork : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException($"no request may be made; got {request.RequestUri}");
    }

    [Fact]
    public void NestedHyperKvasirLayoutTakesTheInnermostFolder()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "polyps" }, 2, prefix: "labeled-images/lower-gi-tract/pathological-findings");
        dir.AddClasses(new[] { "z-line" }, 2, prefix: "labeled-images/upper-gi-tract/anatomical-landmarks", seedBase: 50);
        var listing = FolderSource.Scan(dir.Path);
        Assert.Equal(new[] { "polyps", "z-line" }, listing.Items.Select(i => i.Labels[0]).Distinct().OrderBy(l => l));
    }

    [Fact]
    public void PetsStyleFileNamesGiveLabelsByRegex()
    {
        using var dir = new TempFolder();
        byte[] png = TestImages.Encode(TestImages.Pattern(16, 16, 1), SKEncodedImageFormat.Png);
        foreach (string name in new[] { "Abyssinian_1.jpg", "Abyssinian_12.jpg", "great_pyrenees_3.jpg", "great_pyrenees_40.jpg", "README.txt", "odd.jpg" })
            dir.Write($"images/{name}", png);
        var listing = FolderSource.ScanFileNames(dir.File("images"), @"^(.+)_\d+\.jpg$");
        Assert.Equal(new[] { "Abyssinian", "Abyssinian", "great_pyrenees", "great_pyrenees" }, listing.Items.Select(i => i.Labels[0]));
        Assert.Equal(2, listing.IgnoredFiles);
        Assert.Contains("capture group", Assert.Throws<OptionException>(() => FolderSource.ScanFileNames(dir.Path, @"\d+")).Message);
        Assert.Contains("not a valid", Assert.Throws<OptionException>(() => FolderSource.ScanFileNames(dir.Path, "(")).Message);
    }

    [Fact]
    public void TheCatalogueHasTheSeedDatasets()
    {
        Assert.Equal(new[] { "brain-mri-sample", "kvasir-v1", "kvasir-v2", "hyper-kvasir-labeled", "kvasir-seg", "oxford-pets" }, DatasetCatalog.All.Select(e => e.Name));
        Assert.Equal("https://datasets.simula.no/downloads/kvasir-seg.zip", DatasetCatalog.Find("kvasir-seg")!.Url);
        Assert.Equal("https://datasets.simula.no/downloads/kvasir/kvasir-dataset-v2.zip", DatasetCatalog.Find("KVASIR-V2")!.Url);
        Assert.Contains("Pogorelov", DatasetCatalog.Find("kvasir-v2")!.Citation);
        Assert.Equal(DatasetLayout.FileNameRegex, DatasetCatalog.Find("oxford-pets")!.Layout);
    }

    private sealed class Recorder(List<string> warnings) : IProgressReporter
    {
        public IProgressTask Start(string description, long total) => NullProgress.Instance;

        public void Warn(string message) => warnings.Add(message);
    }
}
