using System.Security.Cryptography;

namespace Lumen.Data;

/// <summary>
/// Identifies an image by its bytes, whatever its name or folder: the first 128 bits of its SHA-256
/// as 32 lower-case hex digits. Used to find duplicates and to record which images a model was
/// trained and validated on, so a copy of a training image is recognised in any folder.
/// </summary>
public static class ContentHash
{
    /// <summary>The hash of <paramref name="bytes"/>.</summary>
    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes)[..16]);

    /// <summary>The hash of a file's bytes.</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static string OfFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream)[..16]);
    }
}
