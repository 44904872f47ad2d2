using System.Runtime.InteropServices;

namespace Lumen.Server;

/// <summary>
/// Makes glibc give large freed blocks back to the system at once. By default glibc raises its mmap
/// threshold to the size of each large block freed, so the decoders' multi-megabyte buffers soon live
/// in the heap arenas, where freed memory stays in the process: a server decoding uploads of every
/// size grows for hours (bench … serve-soak: RSS +23.6 MB/min after the first two minutes, with the
/// managed heap flat). A fixed threshold keeps every block of 256 KB and more in its own mapping,
/// unmapped when freed. No effect (and no error) where the C library is not glibc.
/// </summary>
internal static class NativeHeap
{
    private const int MmapThreshold = -3;  // M_MMAP_THRESHOLD in glibc's malloc.h

    /// <summary>The threshold set: blocks this large or larger are mapped on their own.</summary>
    public const int LargeBlockBytes = 256 * 1024;

    private static int _configured;

    /// <summary>Sets the fixed threshold once per process; true when glibc took it.</summary>
    public static bool ReturnLargeBlocks()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref _configured, 1) == 1) return false;
        try
        {
            return MallOpt(MmapThreshold, LargeBlockBytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;  // musl (Alpine) and other C libraries: their allocators behave otherwise
        }
    }

    [DllImport("libc.so.6", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);
}
