namespace Lumen.Tests.Support;

/// <summary>A test of glibc's allocator; skipped, saying why, on other C libraries (musl, macOS, Windows).</summary>
public sealed class GlibcFactAttribute : FactAttribute
{
    public GlibcFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/lib/x86_64-linux-gnu/libc.so.6"))
            Skip = "glibc (x86-64) not found: this test inspects glibc's malloc";
    }
}
