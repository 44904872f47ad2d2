namespace Lumen.Training;

/// <summary>Learning-rate and momentum schedules (fastai's formulas).</summary>
public static class Schedules
{
    /// <summary>Cosine annealing from <paramref name="start"/> to <paramref name="end"/> at fraction <paramref name="pct"/>: end + (start − end)/2 · (1 + cos(π·pct)).</summary>
    public static double Cosine(double start, double end, double pct) => end + (start - end) / 2 * (1 + Math.Cos(Math.PI * pct));

    /// <summary>Exponential interpolation (LR finder): start · (end/start)^pct.</summary>
    public static double Exponential(double start, double end, double pct) => start * Math.Pow(end / start, pct);

    /// <summary>
    /// One-cycle learning rate at fraction <paramref name="pct"/> of training: cosine from lrMax/div up
    /// to lrMax over the first pctStart, then cosine down to lrMax/divFinal.
    /// </summary>
    public static double OneCycleLr(double pct, double lrMax, double div = 25, double divFinal = 1e5, double pctStart = 0.25) =>
        pct < pctStart
            ? Cosine(lrMax / div, lrMax, pct / pctStart)
            : Cosine(lrMax, lrMax / divFinal, pctStart >= 1 ? 1 : (pct - pctStart) / (1 - pctStart));

    /// <summary>One-cycle momentum: cosine from moms.0 to moms.1 over pctStart, then to moms.2.</summary>
    public static double OneCycleMomentum(double pct, (double Start, double Middle, double End) moms, double pctStart = 0.25) =>
        pct < pctStart
            ? Cosine(moms.Start, moms.Middle, pct / pctStart)
            : Cosine(moms.Middle, moms.End, pctStart >= 1 ? 1 : (pct - pctStart) / (1 - pctStart));
}

/// <summary>
/// Learning rates for the layer groups: one value for all, or fastai's <c>slice(lo, hi)</c> spread
/// geometrically from lo (first group) to hi (last), or <c>slice(hi)</c>: hi/10 for all but the last.
/// </summary>
public readonly record struct LearningRates(double Low, double High, bool IsSlice)
{
    /// <summary>The same rate for every group.</summary>
    public static implicit operator LearningRates(double lr) => new(lr, lr, false);

    /// <summary>fastai's <c>slice(lo, hi)</c>.</summary>
    public static LearningRates Slice(double low, double high) => new(low, high, true);

    /// <summary>fastai's <c>slice(hi)</c>: hi/10 for all groups but the last.</summary>
    public static LearningRates Slice(double high) => new(double.NaN, high, true);

    /// <summary>The rate of each of <paramref name="groups"/> groups.</summary>
    public double[] ForGroups(int groups)
    {
        double high = High;
        if (!IsSlice) return Enumerable.Repeat(high, groups).ToArray();
        if (double.IsNaN(Low)) return Enumerable.Range(0, groups).Select(i => i == groups - 1 ? high : high / 10).ToArray();
        if (groups == 1) return new[] { High };
        double lo = Low;
        return Enumerable.Range(0, groups).Select(i => lo * Math.Pow(high / lo, (double)i / (groups - 1))).ToArray();
    }

    /// <inheritdoc />
    public override string ToString() => !IsSlice ? $"{High:G3}" : double.IsNaN(Low) ? $"slice({High:G3})" : $"slice({Low:G3}, {High:G3})";
}
