using Lumen.Tasks;

namespace Lumen.Data;

/// <summary>What a data source found: labelled items, a fixed split if the source defines one, and problems.</summary>
/// <param name="Items">Labelled image files.</param>
/// <param name="FixedSplit">Per item, its split when the source defines one (train/valid folders, an
/// <c>is_valid</c> CSV column); null when the split must be drawn at random.</param>
/// <param name="Missing">Files a label list names that do not exist, with the reason.</param>
/// <param name="IgnoredFiles">Files skipped because they are not images or have no class folder.</param>
/// <param name="Task">What the labels mean: one class per image, or several (multi-hot targets).</param>
/// <param name="Warnings">What the user should know about the listing (link cycles, unreadable folders).</param>
public sealed record SourceListing(
    IReadOnlyList<LabelledItem> Items,
    IReadOnlyList<Split>? FixedSplit,
    IReadOnlyList<UnreadableFile> Missing,
    int IgnoredFiles,
    ImageTask Task,
    IReadOnlyList<string>? Warnings = null)
{
    /// <summary>The classes in index order when the source defines them (a segmentation's codes); null to collect them from the labels, sorted.</summary>
    public IReadOnlyList<string>? Classes { get; init; }

    /// <summary>Each class's share of all mask pixels (segmentation), in class order; null otherwise.</summary>
    public IReadOnlyList<double>? ClassPixelShares { get; init; }

    /// <summary>What the boxes look like (detection); null otherwise.</summary>
    public Boxes.BoxSummary? Boxes { get; init; }
}

/// <summary>A file that could not be used, with the reason.</summary>
public sealed record UnreadableFile(string Path, string Reason);
