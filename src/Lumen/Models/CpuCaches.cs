namespace Lumen.Models;

/// <summary>
/// oneDNN picks convolution kernels from the CPU cache sizes; on VMs that report none, its strided
/// 1×1 backward kernel has crashed with SIGFPE in ResNet-50 training. Lumen computes that convolution
/// another way (see <see cref="ResNet"/>); this check still tells the user up front when the machine
/// looks like one of those VMs, so a crash elsewhere in oneDNN is not a mystery.
/// </summary>
public static class CpuCaches
{
    /// <summary>True when Linux exposes no cache description for CPU 0.</summary>
    public static bool Missing => OperatingSystem.IsLinux() && !Directory.Exists("/sys/devices/system/cpu/cpu0/cache/index0");

    /// <summary>A warning for bottleneck architectures on such machines, or null.</summary>
    public static string? RiskyForBottlenecks(Architecture architecture) =>
        Missing && architecture.Features == 2048
            ? $"this machine reports no CPU cache sizes; oneDNN has crashed (SIGFPE) training {architecture.Name}-class networks on such VMs. Lumen avoids the known faulty kernel; if training still dies, set ONEDNN_MAX_CPU_ISA=SSE41 (about 5x slower) or use resnet18/34."
            : null;
}
