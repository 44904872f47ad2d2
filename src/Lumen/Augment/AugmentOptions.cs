using Lumen.Imaging;

namespace Lumen.Augment;

/// <summary>
/// Batch augmentation settings with fastai's <c>aug_transforms</c> defaults. Affine parts (flip,
/// rotation, zoom, perspective warp) are combined into one sampling grid per image; lighting changes
/// brightness and contrast in logit space. Validation batches are never augmented.
/// </summary>
public sealed record AugmentOptions
{
    /// <summary>Random horizontal flips (with probability <see cref="PFlip"/>).</summary>
    public bool DoFlip { get; init; } = true;

    /// <summary>Also flip vertically: any of the 8 dihedral symmetries (fastai's <c>Dihedral</c>).</summary>
    public bool FlipVert { get; init; }

    /// <summary>Probability of a flip/dihedral transform.</summary>
    public double PFlip { get; init; } = 0.5;

    /// <summary>Maximum rotation in degrees (uniform in ±this); 360 allows any orientation.</summary>
    public double MaxRotate { get; init; } = 10;

    /// <summary>Minimum zoom factor (1 = none).</summary>
    public double MinZoom { get; init; } = 1.0;

    /// <summary>Maximum zoom factor.</summary>
    public double MaxZoom { get; init; } = 1.1;

    /// <summary>Maximum perspective warp magnitude (fraction of half the image).</summary>
    public double MaxWarp { get; init; } = 0.2;

    /// <summary>Maximum brightness/contrast change.</summary>
    public double MaxLighting { get; init; } = 0.2;

    /// <summary>Probability of each affine transform (rotation, zoom, warp), drawn independently.</summary>
    public double PAffine { get; init; } = 0.75;

    /// <summary>Probability of each lighting transform (brightness, contrast), drawn independently.</summary>
    public double PLighting { get; init; } = 0.75;

    /// <summary>What fills pixels that come from outside the image.</summary>
    public PadMode PadMode { get; init; } = PadMode.Reflection;

    /// <summary>fastai's <c>aug_transforms()</c> defaults.</summary>
    public static AugmentOptions Default { get; } = new();

    /// <summary>No augmentation at all.</summary>
    public static AugmentOptions None { get; } = new()
    {
        DoFlip = false, MaxRotate = 0, MinZoom = 1, MaxZoom = 1, MaxWarp = 0, MaxLighting = 0,
    };

    /// <summary>
    /// For endoscopy and other images without a natural "up": every dihedral symmetry, any rotation,
    /// and stronger lighting changes (0.3) for varying illumination, as the seed project used.
    /// </summary>
    public static AugmentOptions Endoscopy { get; } = new() { FlipVert = true, MaxRotate = 360, MaxLighting = 0.3 };

    /// <summary>
    /// For boxes: only the transforms that keep a box tight around its object, horizontal flips and zoom,
    /// with lighting. A box rotated or warped with its image becomes the bounding box of its turned
    /// corners, looser than the object, and a detector learns loose boxes from it.
    /// </summary>
    public static AugmentOptions Boxes { get; } = new() { MaxRotate = 0, MaxWarp = 0 };

    /// <summary>Names accepted by <see cref="FromPreset"/>.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = new[] { "default", "endoscopy", "boxes", "none" };

    /// <summary>Looks up a preset by name (default, endoscopy, boxes, none).</summary>
    /// <exception cref="LumenException">The name is not a preset.</exception>
    public static AugmentOptions FromPreset(string name) => name.ToLowerInvariant() switch
    {
        "default" => Default,
        "endoscopy" => Endoscopy,
        "boxes" => Boxes,
        "none" => None,
        _ => throw new OptionException(OptionName.Augment, $"must be one of {string.Join(", ", PresetNames)}, got '{name}'"),
    };

    /// <summary>True when these settings never change an image.</summary>
    public bool IsIdentity => !DoFlip && !FlipVert && MaxRotate == 0 && MinZoom == 1 && MaxZoom == 1 && MaxWarp == 0 && MaxLighting == 0;

    /// <summary>Checks ranges and names the offending option.</summary>
    /// <exception cref="LumenException">A value is out of range.</exception>
    public void Validate()
    {
        static void Require(bool ok, OptionName option, string problem) { if (!ok) throw new OptionException(option, problem); }
        Require(MaxRotate >= 0 && MaxRotate <= 360, OptionName.MaxRotate, $"must be between 0 and 360 degrees, got {MaxRotate}");
        Require(MinZoom > 0 && MinZoom <= MaxZoom, OptionName.MinZoom, $"must satisfy 0 < MinZoom <= MaxZoom, got {MinZoom}..{MaxZoom}");
        Require(MaxWarp >= 0 && MaxWarp < 1, OptionName.MaxWarp, $"must be in [0, 1), got {MaxWarp}");
        Require(MaxLighting >= 0 && MaxLighting < 1, OptionName.MaxLighting, $"must be in [0, 1), got {MaxLighting}");
        Require(PAffine is >= 0 and <= 1, OptionName.PAffine, $"must be between 0 and 1, got {PAffine}");
        Require(PLighting is >= 0 and <= 1, OptionName.PLighting, $"must be between 0 and 1, got {PLighting}");
        Require(PFlip is >= 0 and <= 1, OptionName.PFlip, $"must be between 0 and 1, got {PFlip}");
    }
}
