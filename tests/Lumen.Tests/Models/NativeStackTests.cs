using Lumen.Tests.Support;
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Tests;

public class NativeStackTests
{
    [Fact]
    public void TorchSharpLoadsAndComputes()
    {
        // The first tensor op loads libLibTorchSharp.so; on Debian 12 this fails unless the build patched it.
        using var a = tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
        using var b = a.matmul(a);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, b.data<float>().ToArray());
    }

    [ToolFact(Tools.Readelf)]
    public void OutputCopyOfLibTorchSharpHasWeakGlibcxx332Requirement()
    {
        string lib = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(lib), $"expected the native library next to the tests: {lib}");
        string readelf = new[] { "/usr/bin/readelf", "/bin/readelf" }.First(File.Exists);
        var psi = new ProcessStartInfo(readelf, $"-V \"{lib}\"") { RedirectStandardOutput = true };
        using var process = Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        string line = output.Split('\n').Single(l => l.Contains("Name: GLIBCXX_3.4.32"));
        Assert.Contains("WEAK", line);
    }
}
