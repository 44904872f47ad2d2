using static TorchSharp.torch;

namespace Lumen.Models;

/// <summary>A box a detector found, in the pixels of the frame it looked at.</summary>
/// <param name="Class">Class index.</param>
/// <param name="Score">Confidence in [0, 1].</param>
/// <param name="XMin">Left edge.</param>
/// <param name="YMin">Top edge.</param>
/// <param name="XMax">Right edge.</param>
/// <param name="YMax">Bottom edge.</param>
public readonly record struct DetectedBox(int Class, float Score, float XMin, float YMin, float XMax, float YMax)
{
    /// <summary>Intersection over union with another box.</summary>
    public double Iou(float xMin, float yMin, float xMax, float yMax) =>
        Data.Boxes.LabelledBox.Iou(new("", XMin, YMin, XMax, YMax), new("", xMin, yMin, xMax, yMax));
}

/// <summary>How raw detector outputs become boxes: score threshold, candidates, non-maximum suppression, a cap.</summary>
/// <param name="ScoreThreshold">Boxes scoring below are dropped (torchvision's FCOS: 0.2; COCO evaluation uses 0.05).</param>
/// <param name="NmsIou">Of two boxes of one class overlapping more (IoU), the lower-scoring one is dropped (torchvision's FCOS: 0.6).</param>
/// <param name="MaxDetections">Boxes kept per image, best first (COCO's 100).</param>
/// <param name="Candidates">Highest-scoring location-class pairs considered before suppression (torchvision's 1000).</param>
public sealed record BoxDecoding(double ScoreThreshold = 0.05, double NmsIou = 0.6, int MaxDetections = 100, int Candidates = 1000)
{
    /// <summary>What metrics and evaluation use: every box that could count towards average precision.</summary>
    public static BoxDecoding Evaluation { get; } = new();

    /// <summary>What predictions show when the model records no threshold of its own: torchvision FCOS's threshold 0.2 (see <c>Predictor.BoxDecoding</c>).</summary>
    public static BoxDecoding Display { get; } = new(ScoreThreshold: 0.2);

    /// <summary>Checks the ranges, naming the option.</summary>
    /// <exception cref="OptionException">A value is out of range.</exception>
    public void Validate()
    {
        if (!(ScoreThreshold >= 0 && ScoreThreshold <= 1)) throw new OptionException(OptionName.ScoreThreshold, $"must be in [0, 1], got {ScoreThreshold}");
        if (!(NmsIou > 0 && NmsIou <= 1)) throw new OptionException(OptionName.NmsIou, $"must be in (0, 1], got {NmsIou}");
        if (MaxDetections < 1) throw new OptionException(OptionName.MaxDetections, $"must be at least 1, got {MaxDetections}");
    }

    /// <summary>
    /// The boxes of every image in <paramref name="outputs"/> (N×L×(C+8), see <see cref="FcosDetector"/>):
    /// score = √(sigmoid(class) · sigmoid(centre-ness)) as torchvision's FCOS, the best
    /// <see cref="Candidates"/> pairs above the threshold, boxes from the location and its distances,
    /// clipped to the <paramref name="width"/>×<paramref name="height"/> frame when given, per-class NMS,
    /// the best <see cref="MaxDetections"/>. <paramref name="probabilities"/> says the class and centre-ness
    /// columns already went through their sigmoid (a predictor's output).
    /// </summary>
    public IReadOnlyList<DetectedBox>[] Decode(Tensor outputs, int? width = null, int? height = null, bool probabilities = false)
    {
        Func<float, double> score = probabilities ? p => p : Sigmoid;
        float right = width ?? float.PositiveInfinity, bottom = height ?? float.PositiveInfinity;
        int n = (int)outputs.shape[0], rows = (int)outputs.shape[1], classes = (int)outputs.shape[2] - FcosDetector.ExtraColumns;
        float[] values;
        using (var cpu = outputs.detach().cpu().to(ScalarType.Float32).contiguous()) values = cpu.data<float>().ToArray();
        var result = new IReadOnlyList<DetectedBox>[n];
        int stride = classes + FcosDetector.ExtraColumns;
        Parallel.For(0, n, i =>
        {
            var candidates = new List<(float Score, int Row, int Class)>();
            for (int r = 0; r < rows; r++)
            {
                int o = (i * rows + r) * stride;
                double centre = score(values[o + classes + 4]);
                for (int c = 0; c < classes; c++)
                {
                    float confidence = (float)Math.Sqrt(score(values[o + c]) * centre);
                    if (confidence > ScoreThreshold) candidates.Add((confidence, r, c));
                }
            }
            candidates.Sort((a, b) => b.Score.CompareTo(a.Score));
            if (candidates.Count > Candidates) candidates.RemoveRange(Candidates, candidates.Count - Candidates);
            var boxes = candidates.Select(k =>
            {
                int o = (i * rows + k.Row) * stride;
                float x = values[o + classes + 5], y = values[o + classes + 6], s = values[o + classes + 7];
                return new DetectedBox(k.Class, k.Score,
                    Math.Clamp(x - values[o + classes] * s, 0, right), Math.Clamp(y - values[o + classes + 1] * s, 0, bottom),
                    Math.Clamp(x + values[o + classes + 2] * s, 0, right), Math.Clamp(y + values[o + classes + 3] * s, 0, bottom));
            }).Where(b => b.XMax > b.XMin && b.YMax > b.YMin).ToList();
            result[i] = Suppress(boxes, NmsIou, MaxDetections);
        });
        return result;
    }

    /// <summary>
    /// Greedy non-maximum suppression per class on boxes sorted by score (best first): a box is kept
    /// unless a kept box of its class overlaps it more than <paramref name="iou"/>; at most <paramref name="max"/>.
    /// </summary>
    public static IReadOnlyList<DetectedBox> Suppress(IReadOnlyList<DetectedBox> sorted, double iou, int max)
    {
        var kept = new List<DetectedBox>();
        foreach (var box in sorted)
        {
            if (kept.Count == max) break;
            if (!kept.Any(k => k.Class == box.Class && k.Iou(box.XMin, box.YMin, box.XMax, box.YMax) > iou)) kept.Add(box);
        }
        return kept;
    }

    private static double Sigmoid(float x) => 1 / (1 + Math.Exp(-x));
}
