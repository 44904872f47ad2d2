using System.Collections.Concurrent;
using Lumen.Imaging;

namespace Lumen.Data;

/// <summary>Images per class in each split (for multi-label data, items carrying the label).</summary>
public sealed record ClassCount(string Label, int Train, int Valid)
{
    /// <summary>Train + valid.</summary>
    public int Total => Train + Valid;
}

/// <summary>Byte-identical files.</summary>
/// <param name="Paths">The files, sorted.</param>
/// <param name="CrossesSplit">True when copies are in both training and validation: leakage that
/// inflates validation metrics.</param>
/// <param name="ConflictingLabels">True when the copies carry different labels.</param>
public sealed record DuplicateGroup(IReadOnlyList<string> Paths, bool CrossesSplit, bool ConflictingLabels);

/// <summary>
/// What Lumen found in a dataset before training (beyond fastai, whose users find bad data only in
/// top losses): counts per class and split, files that could not be read (skipped), byte-identical
/// duplicates with leakage across the split, and warnings (imbalance, classes missing from a split).
/// </summary>
public sealed record DataAudit(
    IReadOnlyList<ClassCount> Counts,
    IReadOnlyList<UnreadableFile> Unreadable,
    IReadOnlyList<DuplicateGroup> Duplicates,
    IReadOnlyList<string> Warnings,
    int IgnoredFiles)
{
    /// <summary>Each class's share of all mask pixels (segmentation), in class order; null for whole-image labels.</summary>
    public IReadOnlyList<double>? ClassPixelShares { get; init; }

    /// <summary>What the boxes look like (detection); null otherwise.</summary>
    public Boxes.BoxSummary? Boxes { get; init; }

    /// <summary>A class is reported as imbalanced when the largest class has this many times its images.</summary>
    public const double ImbalanceRatio = 3.0;

    /// <summary>Duplicate groups that cross the train/valid split.</summary>
    public IEnumerable<DuplicateGroup> Leaks => Duplicates.Where(d => d.CrossesSplit);

    /// <summary>Decodes every file (in parallel) and hashes its bytes; returns readable items and their hashes.</summary>
    internal static (List<int> Readable, string[] Hashes, List<UnreadableFile> Unreadable) CheckFiles(
        IReadOnlyList<LabelledItem> items, int shortSideHint, int workers, IProgressReporter progress)
    {
        var hashes = new string[items.Count];
        var failures = new ConcurrentBag<(int Index, UnreadableFile File)>();
        using (var task = progress.Start("Checking images", items.Count))
        {
            Parallel.For(0, items.Count, new ParallelOptions { MaxDegreeOfParallelism = workers }, i =>
            {
                string path = items[i].Path;
                try
                {
                    byte[] bytes = File.ReadAllBytes(path);
                    hashes[i] = ContentHash.Of(bytes);
                    ImageDecoder.Decode(bytes, path, shortSideHint);
                }
                catch (ImageDecodeException e)
                {
                    failures.Add((i, new UnreadableFile(path, e.Reason)));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    failures.Add((i, new UnreadableFile(path, e.Message)));
                }
                task.Advance();
            });
        }
        var failed = failures.Select(f => f.Index).ToHashSet();
        var readable = Enumerable.Range(0, items.Count).Where(i => !failed.Contains(i)).ToList();
        var unreadable = failures.OrderBy(f => f.File.Path, StringComparer.Ordinal).Select(f => f.File).ToList();
        return (readable, hashes, unreadable);
    }

    /// <summary>Builds the audit of split, readable items.</summary>
    internal static DataAudit Build(IReadOnlyList<LabelledItem> items, IReadOnlyList<Split> splits, IReadOnlyList<string> hashes,
        Vocabulary vocab, IReadOnlyList<UnreadableFile> unreadable, int ignored, IReadOnlyList<string>? listingWarnings = null)
    {
        var counts = vocab.Classes.Select(c => new ClassCount(c,
            Enumerable.Range(0, items.Count).Count(i => splits[i] == Split.Train && items[i].Labels.Contains(c)),
            Enumerable.Range(0, items.Count).Count(i => splits[i] == Split.Valid && items[i].Labels.Contains(c)))).ToList();

        var duplicates = Enumerable.Range(0, items.Count)
            .GroupBy(i => hashes[i], StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .Select(g => new DuplicateGroup(
                g.Select(i => items[i].Path).OrderBy(p => p, StringComparer.Ordinal).ToList(),
                g.Select(i => splits[i]).Distinct().Count() > 1,
                g.Select(i => items[i].LabelText).Distinct(StringComparer.Ordinal).Count() > 1))
            .OrderBy(d => d.Paths[0], StringComparer.Ordinal)
            .ToList();

        var warnings = new List<string>(listingWarnings ?? Array.Empty<string>());
        int leaks = duplicates.Count(d => d.CrossesSplit);
        if (leaks > 0)
            warnings.Add($"LEAKAGE: {leaks} group(s) of identical files have copies in both training and validation; validation metrics will be optimistic. Remove the copies.");
        int conflicts = duplicates.Count(d => d.ConflictingLabels);
        if (conflicts > 0)
            warnings.Add($"{conflicts} group(s) of identical files carry different labels.");
        if (unreadable.Count > 0)
            warnings.Add($"{unreadable.Count} file(s) could not be read and are skipped.");
        var nonEmpty = counts.Where(c => c.Total > 0).ToList();
        if (nonEmpty.Count > 1)
        {
            var largest = nonEmpty.MaxBy(c => c.Total)!;
            var smallest = nonEmpty.MinBy(c => c.Total)!;
            if (largest.Total >= ImbalanceRatio * smallest.Total)
                warnings.Add($"imbalanced classes: '{largest.Label}' has {largest.Total} images, '{smallest.Label}' only {smallest.Total}; consider oversampling or class weights, and watch per-class metrics.");
        }
        foreach (var c in counts)
        {
            if (c.Train == 0) warnings.Add($"class '{c.Label}' has no training images.");
            else if (c.Valid == 0) warnings.Add($"class '{c.Label}' has no validation images; its accuracy cannot be measured.");
        }
        return new DataAudit(counts, unreadable, duplicates, warnings, ignored);
    }
}
