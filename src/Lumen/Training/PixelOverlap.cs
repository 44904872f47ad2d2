using Lumen.Data.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// One image's pixel counts against its true mask, per class: predicted and true both, predicted, true;
/// and how many of its non-background true pixels were predicted right. The segmentation metrics are
/// formulas over these counts, so validation (tensors at the model's size) and evaluation (masks at
/// each image's own size) compute them the same way.
/// </summary>
/// <param name="Intersection">Per class, pixels predicted as the class that are the class.</param>
/// <param name="Predicted">Per class, pixels predicted as the class.</param>
/// <param name="Truth">Per class, pixels that are the class.</param>
/// <param name="ForegroundCorrect">Pixels of a class other than the background (0) predicted as their class.</param>
public sealed record PixelOverlap(long[] Intersection, long[] Predicted, long[] Truth, long ForegroundCorrect)
{
    /// <summary>Pixels whose true class is not the background.</summary>
    public long ForegroundPixels => Truth.Sum() - Truth[0];

    /// <summary>The counts of a predicted mask against the true one (same size).</summary>
    public static PixelOverlap Of(ClassMask predicted, ClassMask truth, int classes)
    {
        if (predicted.Width != truth.Width || predicted.Height != truth.Height)
            throw new ArgumentException($"the prediction is {predicted.Width}x{predicted.Height}, the truth {truth.Width}x{truth.Height}", nameof(predicted));
        var (both, p, t) = (new long[classes], new long[classes], new long[classes]);
        long correct = 0;
        for (int i = 0; i < truth.Classes.Length; i++)
        {
            byte pc = predicted.Classes[i], tc = truth.Classes[i];
            p[pc]++;
            t[tc]++;
            if (pc != tc) continue;
            both[pc]++;
            if (tc != 0) correct++;
        }
        return new PixelOverlap(both, p, t, correct);
    }

    /// <summary>The counts of each image of N×C×H×W logits (their argmax) against N×H×W targets.</summary>
    public static IReadOnlyList<PixelOverlap> PerImage(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        int classes = (int)logits.shape[1], n = (int)logits.shape[0];
        Tensor predicted = logits.argmax(1).flatten(1), truth = targets.flatten(1);
        var (both, p, t) = (new long[n][], new long[n][], new long[n][]);
        for (int i = 0; i < n; i++) (both[i], p[i], t[i]) = (new long[classes], new long[classes], new long[classes]);
        for (int c = 0; c < classes; c++)
        {
            using var cls = c.ToScalar();
            Tensor pc = predicted.eq(cls), tc = truth.eq(cls);
            long[] bothCounts = pc.logical_and(tc).sum(1).data<long>().ToArray(), pCounts = pc.sum(1).data<long>().ToArray(), tCounts = tc.sum(1).data<long>().ToArray();
            for (int i = 0; i < n; i++) (both[i][c], p[i][c], t[i][c]) = (bothCounts[i], pCounts[i], tCounts[i]);
        }
        return Enumerable.Range(0, n).Select(i => new PixelOverlap(both[i], p[i], t[i], both[i].Sum() - both[i][0])).ToList();
    }

    /// <summary>This image's Dice per class other than the background, averaged; 1 for a class neither has.</summary>
    public double ImageDice() => Enumerable.Range(1, Truth.Length - 1).Average(c => Ratio(2 * Intersection[c], Predicted[c] + Truth[c]));

    /// <summary>The Dice of each image, averaged over the images (the figure papers report).</summary>
    public static double DicePerImage(IReadOnlyList<PixelOverlap> images) =>
        Enumerable.Range(1, images[0].Truth.Length - 1).Average(c => images.Average(i => Ratio(2 * i.Intersection[c], i.Predicted[c] + i.Truth[c])));

    /// <summary>2·|P ∩ T| / (|P| + |T|) over all the images' pixels at once, per class other than the background, averaged.</summary>
    public static double Dice(IReadOnlyList<PixelOverlap> images) =>
        Enumerable.Range(1, images[0].Truth.Length - 1).Average(c => Ratio(2 * images.Sum(i => i.Intersection[c]), images.Sum(i => i.Predicted[c] + i.Truth[c])));

    /// <summary>|P ∩ T| / |P ∪ T| over all the images' pixels at once, per class other than the background, averaged.</summary>
    public static double Jaccard(IReadOnlyList<PixelOverlap> images) =>
        Enumerable.Range(1, images[0].Truth.Length - 1).Average(c =>
        {
            long both = images.Sum(i => i.Intersection[c]);
            return Ratio(both, images.Sum(i => i.Predicted[c] + i.Truth[c]) - both);
        });

    /// <summary>Of all non-background true pixels, the fraction predicted as their class (NaN when there are none).</summary>
    public static double ForegroundAccuracy(IReadOnlyList<PixelOverlap> images)
    {
        long total = images.Sum(i => i.ForegroundPixels);
        return total == 0 ? double.NaN : images.Sum(i => i.ForegroundCorrect) / (double)total;
    }

    /// <summary>An empty prediction of an empty truth is perfect.</summary>
    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 1 : numerator / (double)denominator;
}
