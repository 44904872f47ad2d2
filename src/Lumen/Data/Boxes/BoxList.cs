namespace Lumen.Data.Boxes;

/// <summary>
/// An image's boxes with the frame they are measured in: the image file's size for labels, the
/// model's input square after the item transform and augmentation.
/// </summary>
/// <param name="Width">The frame's width in pixels.</param>
/// <param name="Height">The frame's height in pixels.</param>
/// <param name="Boxes">The boxes, inside the frame.</param>
public sealed record BoxList(int Width, int Height, IReadOnlyList<LabelledBox> Boxes)
{
    /// <summary>
    /// A box a crop or a rotation pushes partly out of the frame is kept, clipped, when at least this
    /// share of its area stays inside; with less, the object is not recognisable and the box is dropped.
    /// </summary>
    public const double MinVisibleShare = 0.25;

    /// <summary>Number of boxes.</summary>
    public int Count => Boxes.Count;

    /// <summary>
    /// The boxes after a change of frame: <paramref name="map"/> takes a point of this frame to the new
    /// one (any projective map); each box becomes the bounding box of its mapped corners, clipped to
    /// the new <paramref name="width"/>×<paramref name="height"/> frame, and is dropped when less than
    /// <see cref="MinVisibleShare"/> of that bounding box is inside.
    /// </summary>
    public BoxList Map(Func<double, double, (double X, double Y)> map, int width, int height)
    {
        var moved = new List<LabelledBox>(Boxes.Count);
        foreach (var b in Boxes)
        {
            double x0 = double.MaxValue, y0 = double.MaxValue, x1 = double.MinValue, y1 = double.MinValue;
            foreach (var (px, py) in new[] { (b.XMin, b.YMin), (b.XMax, b.YMin), (b.XMax, b.YMax), (b.XMin, b.YMax) })
            {
                var (x, y) = map(px, py);
                x0 = Math.Min(x0, x); y0 = Math.Min(y0, y); x1 = Math.Max(x1, x); y1 = Math.Max(y1, y);
            }
            double area = (x1 - x0) * (y1 - y0);
            double cx0 = Math.Clamp(x0, 0, width), cy0 = Math.Clamp(y0, 0, height), cx1 = Math.Clamp(x1, 0, width), cy1 = Math.Clamp(y1, 0, height);
            double kept = Math.Max(0, cx1 - cx0) * Math.Max(0, cy1 - cy0);
            if (area > 0 && kept >= MinVisibleShare * area)
                moved.Add(new LabelledBox(b.Label, (float)cx0, (float)cy0, (float)cx1, (float)cy1));
        }
        return new BoxList(width, height, moved);
    }

    /// <summary>The boxes in a frame scaled to <paramref name="width"/>×<paramref name="height"/> (the same picture at another size).</summary>
    public BoxList Scale(int width, int height)
    {
        double sx = (double)width / Width, sy = (double)height / Height;
        return Map((x, y) => (x * sx, y * sy), width, height);
    }
}
