using Lumen.Data;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// A model's outputs on a whole dataset, computed once: logits, probabilities, targets and per-item
/// losses, on the CPU, in item order. Dispose when done.
/// </summary>
public sealed class Predictions : IDisposable
{
    internal Predictions(Tensor logits, Tensor targets, Tensor losses, IReadOnlyList<LabelledItem> items, bool multiLabel)
    {
        Logits = logits;
        Targets = targets;
        Losses = losses;
        Items = items;
        MultiLabel = multiLabel;
        Probabilities = multiLabel ? logits.sigmoid() : logits.softmax(1);
    }

    /// <summary>Raw outputs, N×C.</summary>
    public Tensor Logits { get; }

    /// <summary>Softmax (single-label) or sigmoid (multi-label) of the logits, N×C.</summary>
    public Tensor Probabilities { get; }

    /// <summary>Class indices (N) or multi-hot targets (N×C).</summary>
    public Tensor Targets { get; }

    /// <summary>Loss of each item, N.</summary>
    public Tensor Losses { get; }

    /// <summary>The items, in the same order.</summary>
    public IReadOnlyList<LabelledItem> Items { get; }

    /// <summary>True for multi-label outputs.</summary>
    public bool MultiLabel { get; }

    /// <summary>Number of items.</summary>
    public int Count => Items.Count;

    /// <inheritdoc />
    public void Dispose()
    {
        Logits.Dispose();
        Probabilities.Dispose();
        Targets.Dispose();
        Losses.Dispose();
    }
}
