using static TorchSharp.torch;

namespace Lumen.Data;

/// <summary>
/// One batch: model-ready images (normalised N×3×H×W) and targets — class indices (int64, N) for
/// single-label data or multi-hot floats (N×C) for multi-label data. Dispose it when done.
/// </summary>
public sealed class Batch : IDisposable
{
    internal Batch(Tensor images, Tensor targets, IReadOnlyList<LabelledItem> items)
    {
        Images = images;
        Targets = targets;
        Items = items;
    }

    /// <summary>Normalised images, N×3×H×W float32.</summary>
    public Tensor Images { get; }

    /// <summary>Class indices (N, int64) or multi-hot targets (N×C, float32).</summary>
    public Tensor Targets { get; }

    /// <summary>The items in batch order.</summary>
    public IReadOnlyList<LabelledItem> Items { get; }

    /// <summary>Number of images.</summary>
    public int Count => Items.Count;

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Targets.Dispose();
    }
}
