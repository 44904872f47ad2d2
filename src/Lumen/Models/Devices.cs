using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Models;

/// <summary>Parses the <c>--device</c> option: <c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
public static class Devices
{
    /// <summary>Resolves a device name; <c>auto</c> picks CUDA when a CUDA build of TorchSharp sees a GPU.</summary>
    /// <exception cref="LumenException">The name is invalid, or CUDA was asked for but is not available.</exception>
    public static Device Parse(string name)
    {
        string n = name.Trim().ToLowerInvariant();
        if (n == "auto") return cuda.is_available() ? CUDA : CPU;
        if (n == "cpu") return CPU;
        if (n == "cuda" || n.StartsWith("cuda:"))
        {
            if (!cuda.is_available())
                throw new OptionException(OptionName.Device, $"'{name}': CUDA is not available. Lumen is built with the CPU package (TorchSharp-cpu); on a machine with an NVIDIA GPU, reference a CUDA build of TorchSharp instead (see README), or use the cpu device.");
            return n == "cuda" ? CUDA : new Device(DeviceType.CUDA, int.Parse(n[5..]));
        }
        throw new OptionException(OptionName.Device, $"must be auto, cpu, cuda or cuda:N, got '{name}'");
    }

    /// <summary>
    /// The device of process <paramref name="localRank"/> on its machine: a CUDA device without an index
    /// (<c>cuda</c>, or <c>auto</c> on a GPU machine) becomes that rank's GPU, round-robin over the GPUs
    /// (one rank per GPU under mpirun); any other device is kept.
    /// </summary>
    public static Device ForLocalRank(Device device, int localRank) =>
        device.type == DeviceType.CUDA && device.index < 0 ? new Device(DeviceType.CUDA, localRank % cuda.device_count()) : device;
}
