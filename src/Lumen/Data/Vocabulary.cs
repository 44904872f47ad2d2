namespace Lumen.Data;

/// <summary>The class names; a class's index is its position (sorted, unless a source fixes the order). Saved with the model.</summary>
public sealed class Vocabulary
{
    private readonly Dictionary<string, int> _index;

    /// <summary>Builds a vocabulary from any labels (duplicates removed, sorted ordinally).</summary>
    public Vocabulary(IEnumerable<string> labels) : this(labels.Distinct(StringComparer.Ordinal).OrderBy(c => c, StringComparer.Ordinal).ToArray())
    {
    }

    /// <summary>A vocabulary in the given order (a segmentation's codes, where the order is the pixel values').</summary>
    /// <exception cref="DataException">A class is named twice.</exception>
    public static Vocabulary InOrder(IEnumerable<string> classes)
    {
        string[] list = classes.ToArray();
        var duplicate = list.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? new Vocabulary(list) : throw new DataException($"the class '{duplicate.Key}' is named twice");
    }

    private Vocabulary(string[] classes)
    {
        Classes = classes;
        _index = Classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
    }

    /// <summary>Class names in index order.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>Number of classes.</summary>
    public int Count => Classes.Count;

    /// <summary>The index of <paramref name="label"/>.</summary>
    /// <exception cref="DataException">The label is not in the vocabulary.</exception>
    public int IndexOf(string label) => _index.TryGetValue(label, out int i)
        ? i
        : throw new DataException($"unknown class '{label}'; known classes: {string.Join(", ", Classes)}");

    /// <summary>True when <paramref name="label"/> is a known class.</summary>
    public bool Contains(string label) => _index.ContainsKey(label);
}
