using Lumen.Files;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Lumen.Data.Datasets;

/// <summary>A dataset present in the cache.</summary>
/// <param name="Entry">The catalogue entry.</param>
/// <param name="Folder">The extracted images' folder (give it to the data pipeline).</param>
/// <param name="LabelRegex">File-name label pattern, when the layout needs one.</param>
public sealed record CachedDataset(DatasetEntry Entry, string Folder, string? LabelRegex);

/// <summary>
/// Downloads, verifies, extracts and caches catalogue datasets under <c>$LUMEN_HOME/datasets</c>
/// (default <c>~/.cache/lumen/datasets</c>). Downloads resume from a partial file with HTTP ranges;
/// archives are verified (SHA-256 when known, else archive integrity and expected class folders)
/// before use; extraction refuses entries that would escape the target folder; everything is
/// idempotent. A corrupt archive is kept aside as <c>.corrupt</c>, never used.
/// </summary>
public sealed class DatasetStore
{
    private const string CompleteMarker = ".lumen-complete";
    private readonly Downloader _downloader;

    /// <summary>Creates a store over <paramref name="root"/> (default: <c>$LUMEN_HOME/datasets</c>).</summary>
    /// <param name="root">The cache folder.</param>
    /// <param name="downloader">How archives are fetched (default: resuming, three retries with backoff).</param>
    public DatasetStore(string? root = null, Downloader? downloader = null)
    {
        Root = Path.GetFullPath(root ?? Path.Combine(LumenHome.Root, "datasets"));
        _downloader = downloader ?? new Downloader();
    }

    /// <summary>The cache folder.</summary>
    public string Root { get; }

    /// <summary>Where <paramref name="entry"/>'s archive is (or will be) stored.</summary>
    public string ArchivePath(DatasetEntry entry) => Path.Combine(Root, entry.Name + ArchiveExtension(entry.Url));

    /// <summary>Where <paramref name="entry"/> is extracted.</summary>
    public string ExtractPath(DatasetEntry entry) => Path.Combine(Root, entry.Name);

    /// <summary>The cached (or bundled) dataset, or null when it is not (completely) there.</summary>
    public CachedDataset? Cached(DatasetEntry entry)
    {
        if (entry.Bundled is { } bundled)
        {
            string sample = Path.Combine(AppContext.BaseDirectory, bundled);
            return Directory.Exists(sample) ? new CachedDataset(entry, sample, entry.LabelRegex) : null;
        }
        string folder = ExtractPath(entry);
        return File.Exists(Path.Combine(folder, CompleteMarker)) ? Describe(entry) : null;
    }

    /// <summary>
    /// Resolves what a user typed as a data folder: an existing folder is returned as is; a catalogue
    /// name is fetched on first use. Returns the folder and, for file-name layouts, the label regex.
    /// </summary>
    /// <exception cref="DataException">Neither a folder nor a known dataset name.</exception>
    public (string Folder, string? LabelRegex) ResolveFolder(string folderOrName, IProgressReporter? progress = null)
    {
        if (Directory.Exists(folderOrName)) return (folderOrName, null);
        var entry = DatasetCatalog.Find(folderOrName)
            ?? throw new DataException($"data folder '{Path.GetFullPath(folderOrName)}' does not exist, and '{folderOrName}' is not a known dataset ({string.Join(", ", DatasetCatalog.All.Select(e => e.Name))})");
        var cached = Get(entry, progress);
        return (cached.Folder, cached.LabelRegex);
    }

    /// <summary>Downloads (resuming), verifies and extracts <paramref name="entry"/> unless it is already cached.</summary>
    /// <exception cref="LumenException">Offline, unreachable, corrupt or unsafe archive; the message says what to do.</exception>
    public CachedDataset Get(DatasetEntry entry, IProgressReporter? progress = null)
    {
        progress ??= NullProgress.Instance;
        if (Cached(entry) is { } done) return done;
        if (entry.Bundled is { } bundled)
            throw new LumenException($"{entry.Name} ships with Lumen, but this installation lacks it (expected at {Path.Combine(AppContext.BaseDirectory, bundled)}); reinstall Lumen, or train on the repository's {bundled} folder");
        Directory.CreateDirectory(Root);
        string archive = ArchivePath(entry);
        if (!File.Exists(archive))
        {
            progress.Warn($"{entry.Name}: {entry.Licence} Cite: {entry.Citation}");
            Download(entry, archive, progress);
        }
        return Install(entry, archive, progress);
    }

    /// <summary>Imports an archive downloaded elsewhere (<c>lumen datasets add</c>), verifies and extracts it.</summary>
    public CachedDataset Add(DatasetEntry entry, string archiveFile, IProgressReporter? progress = null)
    {
        if (entry.Bundled is not null) throw new LumenException($"{entry.Name} ships with Lumen; there is no archive to import");
        if (!File.Exists(archiveFile)) throw new LumenException($"archive '{archiveFile}' does not exist");
        Directory.CreateDirectory(Root);
        string archive = ArchivePath(entry);
        if (Path.GetFullPath(archiveFile) != archive)
        {
            string temp = archive + ".import";
            File.Copy(archiveFile, temp, overwrite: true);
            File.Move(temp, archive, overwrite: true);
        }
        string extracted = ExtractPath(entry);
        if (Directory.Exists(extracted)) Directory.Delete(extracted, recursive: true);
        return Install(entry, archive, progress ?? NullProgress.Instance);
    }

    private CachedDataset Install(DatasetEntry entry, string archive, IProgressReporter progress)
    {
        try
        {
            Verify(entry, archive, progress);
            Extract(entry, archive, progress);
            CheckLayout(entry);
        }
        catch (LumenException e) when (e is not UnsafeArchiveException)
        {
            string aside = archive + ".corrupt";
            File.Move(archive, aside, overwrite: true);
            string target = ExtractPath(entry);
            if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
            throw new LumenException($"{e.Message} The archive was moved aside to {aside} and will not be used; run 'lumen datasets get {entry.Name}' to download it again.", e);
        }
        File.WriteAllText(Path.Combine(ExtractPath(entry), CompleteMarker), DateTime.UtcNow.ToString("O"));
        return Describe(entry);
    }

    private CachedDataset Describe(DatasetEntry entry)
    {
        string folder = ExtractPath(entry);
        if (entry.ImageFolder.Length > 0)
        {
            // The image folder may sit under the archive's own top folder.
            string? found = Directory.EnumerateDirectories(folder, entry.ImageFolder, SearchOption.AllDirectories).OrderBy(d => d.Length).FirstOrDefault();
            folder = found ?? Path.Combine(folder, entry.ImageFolder);
        }
        return new CachedDataset(entry, folder, entry.Layout == DatasetLayout.FileNameRegex ? entry.LabelRegex : null);
    }

    private void Download(DatasetEntry entry, string archive, IProgressReporter progress) =>
        _downloader.Fetch(new Uri(entry.Url), archive, progress, entry.Name,
            $"Download {entry.Url} with a browser or another machine and import it with 'lumen datasets add {entry.Name} <archive>' (or put it at {archive}).",
            expectedBytes: entry.ApproximateBytes);

    private static void Verify(DatasetEntry entry, string archive, IProgressReporter progress)
    {
        if (entry.Sha256 is null) return; // integrity is checked while extracting, then the layout
        using var task = progress.Start($"Verifying {entry.Name}", 1);
        using var stream = File.OpenRead(archive);
        string digest = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
        task.Advance();
        if (!digest.Equals(entry.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new LumenException($"{entry.Name}: the archive's SHA-256 is {digest}, expected {entry.Sha256}: it is corrupt or not the published file.");
    }

    private void Extract(DatasetEntry entry, string archive, IProgressReporter progress)
    {
        string target = ExtractPath(entry);
        string staging = target + ".extracting";
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        string root = Path.GetFullPath(staging) + Path.DirectorySeparatorChar;
        string SafePath(string entryName)
        {
            string full = Path.GetFullPath(Path.Combine(staging, entryName));
            if (!full.StartsWith(root, StringComparison.Ordinal))
            {
                Directory.Delete(staging, recursive: true);
                throw new UnsafeArchiveException($"{entry.Name}: the archive entry '{entryName}' would be written outside the dataset folder; refusing to extract it. Delete {archive} and check where it came from.");
            }
            return full;
        }
        try
        {
            using var task = progress.Start($"Extracting {entry.Name}", 1);
            if (archive.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
            {
                using var zip = ZipFile.OpenRead(archive);
                foreach (var e in zip.Entries)
                {
                    string path = SafePath(e.FullName);
                    if (e.FullName.EndsWith('/')) { Directory.CreateDirectory(path); continue; }
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    e.ExtractToFile(path, overwrite: true);
                }
            }
            else
            {
                using var file = File.OpenRead(archive);
                using var gzip = new GZipStream(file, CompressionMode.Decompress);
                using var tar = new TarReader(gzip);
                while (tar.GetNextEntry() is { } e)
                {
                    string path = SafePath(e.Name);
                    if (e.EntryType == TarEntryType.Directory) { Directory.CreateDirectory(path); continue; }
                    if (e.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue; // no links or devices
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    e.ExtractToFile(path, overwrite: true);
                }
            }
            task.Advance();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            Directory.Delete(staging, recursive: true);
            throw new LumenException($"{entry.Name}: the archive is corrupt or truncated ({e.Message}).", e);
        }
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.Move(staging, target);
    }

    private void CheckLayout(DatasetEntry entry)
    {
        var cached = Describe(entry);
        if (!Directory.Exists(cached.Folder)) throw new LumenException($"{entry.Name}: the archive has no '{entry.ImageFolder}' folder.");
        if (entry.Layout == DatasetLayout.ImagesAndMasks)
        {
            var layout = Masks.SegmentationSource.RecogniseLayout(cached.Folder)
                ?? throw new LumenException($"{entry.Name}: the archive has no images/ and masks/ folders under '{entry.ImageFolder}'.");
            var pairs = Masks.SegmentationSource.Scan(layout.Images, layout.Masks, Masks.SegmentationSource.FindEncoding(cached.Folder, layout.Masks));
            if (pairs.Items.Count < entry.MinClasses)
                throw new LumenException($"{entry.Name}: the archive is incomplete: {pairs.Items.Count} images with masks found (expected {entry.MinClasses}).");
            return;
        }
        var listing = entry.Layout == DatasetLayout.FileNameRegex
            ? FolderSource.ScanFileNames(cached.Folder, entry.LabelRegex!)
            : FolderSource.Scan(cached.Folder);
        var classes = listing.Items.SelectMany(i => i.Labels).ToHashSet(StringComparer.Ordinal);
        var missing = entry.ExpectedClasses.Where(c => !classes.Contains(c)).ToList();
        if (missing.Count > 0 || classes.Count < entry.MinClasses)
            throw new LumenException($"{entry.Name}: the archive is incomplete: {classes.Count} classes found (expected at least {entry.MinClasses}){(missing.Count > 0 ? $", missing {string.Join(", ", missing)}" : "")}.");
    }

    private static string ArchiveExtension(string url) =>
        url.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) ? ".tar.gz" : url.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase) ? ".tgz" : ".zip";
}

/// <summary>An archive entry would escape its target folder (zip-slip).</summary>
public sealed class UnsafeArchiveException(string message) : LumenException(message);
