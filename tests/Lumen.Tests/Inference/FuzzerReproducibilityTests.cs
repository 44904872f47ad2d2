using System.Security.Cryptography;
using System.Text;
using Lumen.Tests.Support;

namespace Lumen.Tests;

/// <summary>
/// A fuzzed case is rerun by its number (<c>bench … fuzz-models --case N</c>), in another process: the
/// fuzzers must derive each case from (seed, number) alone. They seeded from HashCode.Combine, which
/// .NET randomises per process, so a reported case could not be reproduced.
/// </summary>
public class FuzzerReproducibilityTests
{
    private const string FileVariable = "LUMEN_TEST_FUZZ_SOURCE", DigestVariable = "LUMEN_TEST_FUZZ_DIGEST";

    private static string Digest(byte[] source)
    {
        var model = new ModelFileFuzzer(source, seed: 7, bombMegabytes: 1);
        var labels = new LabelFileFuzzer(Encoding.UTF8.GetBytes("file,label\na.png,x\nb.png,y\n"), seed: 7);
        using var sha = SHA256.Create();
        foreach (var c in model.Cases(40)) sha.TransformBlock(c.Bytes, 0, c.Bytes.Length, null, 0);
        foreach (int n in Enumerable.Range(0, 40)) { var c = labels.Make(n); sha.TransformBlock(c.Bytes, 0, c.Bytes.Length, null, 0); }
        sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
        return Convert.ToHexString(sha.Hash!);
    }

    [Trait("Category", Category.Process)]
    [Fact]
    public void TheSameSeedAndNumberGiveTheSameCaseInAnotherProcess()
    {
        using var dir = new TempFolder();
        string model = TinyModel.Save(dir.File("m.lumen"));
        Environment.SetEnvironmentVariable(FileVariable, model);
        Environment.SetEnvironmentVariable(DigestVariable, Digest(File.ReadAllBytes(model)));
        try
        {
            OwnProcess.Run(SameDigestHere);
        }
        finally
        {
            Environment.SetEnvironmentVariable(FileVariable, null);
            Environment.SetEnvironmentVariable(DigestVariable, null);
        }
    }

    private static void SameDigestHere() =>
        Assert.Equal(Environment.GetEnvironmentVariable(DigestVariable), Digest(File.ReadAllBytes(Environment.GetEnvironmentVariable(FileVariable)!)));
}
