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
                throw new OptionException("Device", $"'{name}': CUDA is not available. Lumen is built with the CPU package (TorchSharp-cpu); on a machine with an NVIDIA GPU, reference a CUDA build of TorchSharp instead (see README), or use the cpu device.");
            return n == "cuda" ? CUDA : new Device(DeviceType.CUDA, int.Parse(n[5..]));
        }
        throw new OptionException("Device", $"must be auto, cpu, cuda or cuda:N, got '{name}'");
    }
}
