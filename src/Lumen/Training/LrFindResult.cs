namespace Lumen.Training;

/// <summary>
/// The result of <see cref="Learner.LrFind"/>: learning rates and smoothed losses, and fastai's
/// suggestions computed on the curve without its first 10% and last 5 points.
/// </summary>
public sealed class LrFindResult
{
    internal LrFindResult(IReadOnlyList<double> lrs, IReadOnlyList<double> losses, int iterations)
    {
        LearningRates = lrs;
        Losses = losses;
        int skipStart = iterations / 10, end = Math.Max(skipStart + 2, lrs.Count - 5);
        var l = lrs.Skip(skipStart).Take(end - skipStart).ToArray();
        var y = losses.Skip(skipStart).Take(end - skipStart).ToArray();
        if (l.Length < 3) { l = lrs.ToArray(); y = losses.ToArray(); }
        if (l.Length < 3) throw new LumenException($"the LR finder stopped after {lrs.Count} batches, too few to suggest a learning rate; lower the start learning rate or check the data");
        Minimum = l[Array.IndexOf(y, y.Min())] / 10;
        Steep = l[SteepestIndex(l, y)];
        Valley = l[ValleyIndex(y)];
    }

    /// <summary>Learning rate of each batch.</summary>
    public IReadOnlyList<double> LearningRates { get; }

    /// <summary>Smoothed loss of each batch.</summary>
    public IReadOnlyList<double> Losses { get; }

    /// <summary>fastai v2's default suggestion: a point two-thirds down the longest descending stretch of the curve.</summary>
    public double Valley { get; }

    /// <summary>The learning rate at the minimum loss, divided by 10.</summary>
    public double Minimum { get; }

    /// <summary>The learning rate where the loss falls fastest (most negative slope against log LR).</summary>
    public double Steep { get; }

    /// <summary>Longest run of decreasing losses (as a longest decreasing subsequence), then 2/3 of the way along it.</summary>
    internal static int ValleyIndex(IReadOnlyList<double> losses)
    {
        int n = losses.Count;
        var length = Enumerable.Repeat(1, n).ToArray();
        int maxStart = 0, maxEnd = 0;
        for (int i = 1; i < n; i++)
        {
            for (int j = 0; j < i; j++)
                if (losses[i] < losses[j] && length[i] < length[j] + 1) length[i] = length[j] + 1;
            if (length[maxEnd] < length[i])
            {
                maxEnd = i;
                maxStart = maxEnd - length[maxEnd];
            }
        }
        double sections = (maxEnd - maxStart) / 3.0;
        return Math.Clamp(maxStart + (int)sections + (int)(sections / 2), 0, n - 1);
    }

    /// <summary>Index of the most negative central-difference slope of loss against log10(lr).</summary>
    internal static int SteepestIndex(IReadOnlyList<double> lrs, IReadOnlyList<double> losses)
    {
        int n = lrs.Count, best = 0;
        double bestSlope = double.PositiveInfinity;
        for (int i = 0; i < n; i++)
        {
            int a = Math.Max(0, i - 1), b = Math.Min(n - 1, i + 1);
            double slope = (losses[b] - losses[a]) / (Math.Log10(lrs[b]) - Math.Log10(lrs[a]));
            if (slope < bestSlope) { bestSlope = slope; best = i; }
        }
        return best;
    }
}
