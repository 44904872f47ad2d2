using System.Runtime.InteropServices;
using Lumen.Server;
using Lumen.Tests.Support;

namespace Lumen.Tests;

public class NativeHeapTests
{
    /// <summary>glibc marks a block mapped on its own with bit 1 (IS_MMAPPED) of the size word before it.</summary>
    private static bool MappedOnItsOwn(IntPtr block) => (Marshal.ReadInt64(block - 8) & 2) != 0;

    /// <summary>
    /// In a fresh process: a process that has run other tests holds large free chunks in its arenas,
    /// and glibc serves a 4 MB request from one of those before it looks at the threshold.
    /// </summary>
    [Trait("Category", Category.Process)]
    [GlibcFact]
    public void LargeBlocksStayMappedAfterOneIsFreed() => OwnProcess.Run(LargeBlocksStayMapped);

    private static void LargeBlocksStayMapped()
    {
        LumenServer.CreateBuilder(o => o.ModelPath = "unused.lumen");  // the server sets the threshold as it starts
        // Without the fixed threshold, freeing a mapped 4 MB block raises glibc's threshold to 4 MB and
        // the next one comes from a heap arena, which keeps the memory when it is freed.
        var first = Marshal.AllocHGlobal(4 << 20);
        Assert.True(MappedOnItsOwn(first), "the first 4 MB block came from a heap arena");
        Marshal.FreeHGlobal(first);
        var second = Marshal.AllocHGlobal(4 << 20);
        try
        {
            Assert.True(MappedOnItsOwn(second), "a 4 MB block came from a heap arena after another was freed");
        }
        finally
        {
            Marshal.FreeHGlobal(second);
        }
    }
}
