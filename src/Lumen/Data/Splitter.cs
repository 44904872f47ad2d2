namespace Lumen.Data;

/// <summary>
/// The seeded random split (fastai's <c>RandomSplitter</c>), stratified: each class (for multi-label
/// data, each distinct label set) contributes round(n × validPct) of its items to validation, so class
/// proportions are the same in both splits. The same items and seed always give the same split.
/// </summary>
public static class Splitter
{
    /// <summary>fastai's <c>RandomSplitter(valid_pct, seed)</c>, stratified (see <see cref="Stratified"/>), for <c>ImageDataLoaders.FromItems</c>.</summary>
    public static Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>> Random(double validPct = 0.2, int seed = 42) => items => Stratified(items, validPct, seed);

    /// <summary>fastai's <c>FuncSplitter</c>: an item is validation when <paramref name="isValid"/> says so.</summary>
    public static Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>> ByFunc(Func<LabelledItem, bool> isValid) =>
        items => items.Select(i => isValid(i) ? Split.Valid : Split.Train).ToArray();

    /// <summary>Assigns each item a split; the result is parallel to <paramref name="items"/>.</summary>
    /// <exception cref="DataException"><paramref name="validPct"/> is not strictly between 0 and 1.</exception>
    public static Split[] Stratified(IReadOnlyList<LabelledItem> items, double validPct, int seed)
    {
        if (!(validPct > 0 && validPct < 1)) throw new OptionException("ValidPct", $"must be between 0 and 1 (exclusive), got {validPct}");
        var result = new Split[items.Count];
        var random = new System.Random(seed);
        var groups = Enumerable.Range(0, items.Count)
            .GroupBy(i => string.Join(";", items[i].Labels.OrderBy(l => l, StringComparer.Ordinal)), StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal);
        foreach (var group in groups)
        {
            int[] members = group.OrderBy(i => items[i].Path, StringComparer.Ordinal).ToArray();
            random.Shuffle(members);
            int validCount = (int)Math.Round(members.Length * validPct, MidpointRounding.AwayFromZero);
            for (int k = 0; k < members.Length; k++) result[members[k]] = k < validCount ? Split.Valid : Split.Train;
        }
        return result;
    }
}
