using Lumen.Tensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Lumen.Models;

/// <summary>
/// BatchNorm over N×C (one-dimensional) or N×C×H×W (two-dimensional) inputs, as TorchSharp's
/// BatchNorm1d/BatchNorm2d (same parameters, buffers, state-dict names and arithmetic), except that
/// the batch counter steps with a cached Scalar. TorchSharp's own forward calls
/// <c>num_batches_tracked.add_(1)</c>, whose two hidden Scalars the finalizer thread can free while
/// LibTorch reads them: the training crash "For integral input tensors, argument alpha must not be
/// a floating point number" (see <see cref="Scalars"/>).
/// </summary>
public sealed class BatchNormLayer : TorchSharp.Modules.BatchNorm
{
    private BatchNormLayer(long features, bool spatial)
        : base(features, eps: 1e-5, momentum: 0.1, affine: true, track_running_stats: true, device: null, dtype: null, name: spatial ? "BatchNorm2d" : "BatchNorm1d")
    {
        Spatial = spatial;
    }

    /// <summary>True for N×C×H×W inputs (BatchNorm2d), false for N×C or N×C×L (BatchNorm1d).</summary>
    public bool Spatial { get; }

    /// <summary>BatchNorm1d: normalises each of <paramref name="features"/> channels of N×C or N×C×L inputs.</summary>
    public static BatchNormLayer OneDimensional(long features) => new(features, spatial: false);

    /// <summary>BatchNorm2d: normalises each of <paramref name="features"/> channels of N×C×H×W inputs.</summary>
    public static BatchNormLayer TwoDimensional(long features) => new(features, spatial: true);

    /// <inheritdoc />
    protected override void ValidateInputDimensions(Tensor input)
    {
        bool valid = Spatial ? input.ndim == 4 : input.ndim is 2 or 3;
        if (!valid) throw new ArgumentException($"expected {(Spatial ? "4D" : "2D or 3D")} input (got {input.ndim}D input)", nameof(input));
    }

    /// <summary>PyTorch's <c>_BatchNorm.forward</c>: batch statistics while training, running ones in evaluation.</summary>
    public override Tensor forward(Tensor input)
    {
        ValidateInputDimensions(input);
        double averageFactor = momentum ?? 0.0;
        if (training && track_running_stats && num_batches_tracked is not null)
        {
            num_batches_tracked.add_(Scalars.One, Scalars.One);
            if (momentum is null) averageFactor = 1.0 / num_batches_tracked.item<long>();
        }
        bool batchStatistics = training || (running_mean is null && running_var is null);
        bool passRunning = !training || track_running_stats;
        return F.batch_norm(input, passRunning ? running_mean : null, passRunning ? running_var : null, weight, bias, batchStatistics, averageFactor, eps);
    }
}
