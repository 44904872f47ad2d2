namespace Lumen.Data.Boxes;

/// <summary>
/// A labelled box in an image's pixel coordinates: edges, not pixel indices, so a box covering the
/// whole W×H image is (0, 0, W, H) (COCO's convention; VOC's 1-based corners are read as they are).
/// </summary>
/// <param name="Label">The class of the object inside.</param>
/// <param name="XMin">Left edge.</param>
/// <param name="YMin">Top edge.</param>
/// <param name="XMax">Right edge.</param>
/// <param name="YMax">Bottom edge.</param>
public readonly record struct LabelledBox(string Label, float XMin, float YMin, float XMax, float YMax)
{
    /// <summary>XMax − XMin.</summary>
    public float Width => XMax - XMin;

    /// <summary>YMax − YMin.</summary>
    public float Height => YMax - YMin;

    /// <summary>Width × height (0 for an inverted or empty box).</summary>
    public float Area => Math.Max(0, Width) * Math.Max(0, Height);

    /// <summary>Intersection over union of two boxes' areas (labels ignored); 0 when both are empty.</summary>
    public static double Iou(LabelledBox a, LabelledBox b)
    {
        double w = Math.Min(a.XMax, b.XMax) - Math.Max(a.XMin, b.XMin), h = Math.Min(a.YMax, b.YMax) - Math.Max(a.YMin, b.YMin);
        double inter = w > 0 && h > 0 ? w * h : 0, union = a.Area + b.Area - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Label} ({XMin:0.#}, {YMin:0.#}, {XMax:0.#}, {YMax:0.#})";
}
