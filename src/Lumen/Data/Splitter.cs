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

    /// <summary>
    /// Fold <paramref name="fold"/> of a seeded, stratified k-fold split (scikit-learn's
    /// StratifiedKFold, shuffled): each class (label set) is shuffled with <paramref name="seed"/> and
    /// dealt round-robin into <paramref name="folds"/> folds, so every item is validation in exactly
    /// one fold and class proportions match across folds. The same items and seed give the same folds.
    /// </summary>
    /// <exception cref="OptionException">Fewer than 2 folds, or <paramref name="fold"/> outside [0, folds).</exception>
    public static Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>> KFold(int folds, int fold, int seed = 42)
    {
        if (folds < 2) throw new OptionException(OptionName.Folds, $"must be at least 2, got {folds}");
        if (fold < 0 || fold >= folds) throw new OptionException(OptionName.Fold, $"must be in [0, {folds}), got {fold}");
        return items =>
        {
            var foldOf = FoldOf(items, folds, seed);
            return foldOf.Select(f => f == fold ? Split.Valid : Split.Train).ToArray();
        };
    }

    /// <summary>The fold (0-based) each item is validation in, for a <see cref="KFold"/> split.</summary>
    public static int[] FoldOf(IReadOnlyList<LabelledItem> items, int folds, int seed)
    {
        var result = new int[items.Count];
        var random = new System.Random(seed);
        int next = 0;  // continues across classes so small classes do not all land in the first folds
        foreach (var group in ByLabelSet(items))
        {
            int[] members = group.OrderBy(i => items[i].Path, StringComparer.Ordinal).ToArray();
            random.Shuffle(members);
            foreach (int member in members) result[member] = next++ % folds;
        }
        return result;
    }

    private static IEnumerable<IGrouping<string, int>> ByLabelSet(IReadOnlyList<LabelledItem> items) =>
        Enumerable.Range(0, items.Count)
            .GroupBy(i => string.Join(";", items[i].Labels.OrderBy(l => l, StringComparer.Ordinal)), StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal);

    /// <summary>Assigns each item a split; the result is parallel to <paramref name="items"/>.</summary>
    /// <exception cref="OptionException"><paramref name="validPct"/> is not in [0, 1) (0: every item trains).</exception>
    public static Split[] Stratified(IReadOnlyList<LabelledItem> items, double validPct, int seed)
    {
        if (!(validPct >= 0 && validPct < 1)) throw new OptionException(OptionName.ValidPct, $"must be at least 0 and below 1 (0: train on every image, no validation), got {validPct}");
        var result = new Split[items.Count];
        var random = new System.Random(seed);
        foreach (var group in ByLabelSet(items))
        {
            int[] members = group.OrderBy(i => items[i].Path, StringComparer.Ordinal).ToArray();
            random.Shuffle(members);
            int validCount = (int)Math.Round(members.Length * validPct, MidpointRounding.AwayFromZero);
            for (int k = 0; k < members.Length; k++) result[members[k]] = k < validCount ? Split.Valid : Split.Train;
        }
        return result;
    }
}
