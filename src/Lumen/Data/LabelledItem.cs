using Lumen.Data.Boxes;
using Lumen.Data.Masks;

namespace Lumen.Data;

/// <summary>An image file and its label(s). Single-label items have exactly one label.</summary>
/// <param name="Path">Full path of the image file.</param>
/// <param name="Labels">The item's labels; empty is allowed for multi-label data (no class present);
/// for segmentation, the classes its mask holds; for detection, the classes of its boxes.</param>
public sealed record LabelledItem(string Path, IReadOnlyList<string> Labels)
{
    /// <summary>The item's segmentation mask, the target that moves with the image; null for whole-image labels.</summary>
    public MaskFile? Mask { get; init; }

    /// <summary>The item's boxes in its image's pixels, the target that moves with the image; null for whole-image labels.</summary>
    public BoxList? Boxes { get; init; }

    /// <summary>Creates a single-label item.</summary>
    public LabelledItem(string path, string label) : this(path, new[] { label }) { }

    /// <summary>The labels joined with ';' (for display and stratification).</summary>
    public string LabelText => string.Join(";", Labels);
}

/// <summary>Which split an item belongs to.</summary>
public enum Split
{
    /// <summary>Used to fit the model.</summary>
    Train,

    /// <summary>Held out to measure the model.</summary>
    Valid,
}
