using Lumen.Data;
using Lumen.Tasks;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// A model's outputs on a whole dataset, computed once: logits, probabilities, targets and per-item
/// losses, on the CPU, in item order. Dispose when done.
/// </summary>
public sealed class Predictions : IDisposable
{
    internal Predictions(Tensor logits, Tensor targets, Tensor losses, IReadOnlyList<LabelledItem> items, ImageTask task)
    {
        Logits = logits;
        Targets = targets;
        Losses = losses;
        Items = items;
        Task = task;
        Probabilities = task.Probabilities(logits);
    }

    /// <summary>Raw outputs, N×C.</summary>
    public Tensor Logits { get; }

    /// <summary>The task's probabilities of the logits (softmax, or a sigmoid per class), N×C.</summary>
    public Tensor Probabilities { get; }

    /// <summary>Class indices (N) or multi-hot targets (N×C).</summary>
    public Tensor Targets { get; }

    /// <summary>Loss of each item, N.</summary>
    public Tensor Losses { get; }

    /// <summary>The items, in the same order.</summary>
    public IReadOnlyList<LabelledItem> Items { get; }

    /// <summary>What the outputs mean.</summary>
    public ImageTask Task { get; }

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
