using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// Saves torch's process-wide random generator state and restores it on dispose (PyTorch's
/// <c>fork_rng</c>): Lumen seeds the generator for reproducible initialisation and batches, and
/// a caller's own random stream continues afterwards as if nothing had drawn from it.
/// </summary>
public sealed class GeneratorStateScope : IDisposable
{
    private readonly Tensor _state = random.get_rng_state();

    /// <inheritdoc />
    public void Dispose()
    {
        random.set_rng_state(_state);
        _state.Dispose();
    }
}
