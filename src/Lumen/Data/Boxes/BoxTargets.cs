using static TorchSharp.torch;

namespace Lumen.Data.Boxes;

/// <summary>A true box as a batch holds it: its class index and corners in the batch's pixels.</summary>
/// <param name="Class">Class index.</param>
/// <param name="XMin">Left edge.</param>
/// <param name="YMin">Top edge.</param>
/// <param name="XMax">Right edge.</param>
/// <param name="YMax">Bottom edge.</param>
public readonly record struct TrueBox(int Class, float XMin, float YMin, float XMax, float YMax);

/// <summary>
/// Box lists as a batch's targets: N×M×5 float32, per box its class index (−1 for padding) and
/// corners, padded to M boxes per image.
/// </summary>
public static class BoxTargets
{
    /// <summary>Pads <paramref name="boxes"/> to <paramref name="maxBoxes"/> per image on <paramref name="device"/>.</summary>
    public static Tensor Pad(IReadOnlyList<BoxList> boxes, Vocabulary vocab, int maxBoxes, Device device)
    {
        var values = new float[boxes.Count * maxBoxes * 5];
        for (int i = 0; i < boxes.Count; i++)
        {
            if (boxes[i].Count > maxBoxes) throw new ArgumentException($"image {i} has {boxes[i].Count} boxes, more than {maxBoxes}", nameof(boxes));
            for (int j = 0; j < maxBoxes; j++)
            {
                int o = (i * maxBoxes + j) * 5;
                if (j >= boxes[i].Count) { values[o] = -1; continue; }
                var b = boxes[i].Boxes[j];
                (values[o], values[o + 1], values[o + 2], values[o + 3], values[o + 4]) = (vocab.IndexOf(b.Label), b.XMin, b.YMin, b.XMax, b.YMax);
            }
        }
        return tensor(values, new long[] { boxes.Count, maxBoxes, 5 }, ScalarType.Float32, device);
    }

    /// <summary>The boxes of padded targets (N×M×5), per image, padding left out.</summary>
    public static IReadOnlyList<TrueBox>[] Read(Tensor targets)
    {
        using var cpu = targets.cpu().to(ScalarType.Float32).contiguous();
        float[] v = cpu.data<float>().ToArray();
        int n = (int)targets.shape[0], m = (int)targets.shape[1];
        var result = new IReadOnlyList<TrueBox>[n];
        for (int i = 0; i < n; i++)
        {
            var list = new List<TrueBox>();
            for (int j = 0; j < m; j++)
            {
                int o = (i * m + j) * 5;
                if (v[o] >= 0) list.Add(new TrueBox((int)v[o], v[o + 1], v[o + 2], v[o + 3], v[o + 4]));
            }
            result[i] = list;
        }
        return result;
    }
}
