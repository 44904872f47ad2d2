using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Lumen.Files;
using static TorchSharp.torch;

namespace Lumen.Tensors;

/// <summary>A named entry of a Lumen archive (model file, ensemble, checkpoint).</summary>
/// <param name="Name">The entry's name in the zip.</param>
public abstract record ArchiveEntry(string Name);

/// <summary>An entry holding a <typeparamref name="T"/> as JSON (at most <see cref="TensorArchive.MaxJsonBytes"/>).</summary>
public sealed record JsonEntry<T>(string Name) : ArchiveEntry(Name) where T : class;

/// <summary>An entry of raw bytes: safetensors, or a nested archive (at most <see cref="TensorArchive.MaxTensorBytes"/>, stored uncompressed).</summary>
public sealed record BlobEntry(string Name) : ArchiveEntry(Name);

/// <summary>
/// Reads a Lumen archive as untrusted input, one typed entry at a time: every entry with a size
/// limit, JSON into its type, blobs checked against a SHA-256 where the archive records one, and
/// every error a <see cref="LumenException"/> naming the file.
/// </summary>
internal sealed class ArchiveReader : IDisposable
{
    private readonly ZipArchive _zip;
    private readonly JsonSerializerOptions _json;

    private ArchiveReader(ZipArchive zip, string source, JsonSerializerOptions json) => (_zip, Source, _json) = (zip, source, json);

    /// <summary>The file (or "file!member") read, as messages name it.</summary>
    public string Source { get; }

    /// <summary>Opens <paramref name="path"/>; <paramref name="notAnArchive"/> is the message when it is not a zip (or is truncated).</summary>
    /// <exception cref="LumenException">The file is missing or not a zip archive.</exception>
    public static ArchiveReader Open(string path, JsonSerializerOptions json, string what, string notAnArchive)
    {
        if (!File.Exists(path)) throw new LumenException($"{what} '{path}' does not exist");
        ZipArchive? zip = null;
        try
        {
            zip = ZipFile.OpenRead(path);
            _ = zip.Entries;  // the central directory is read lazily: read it here, where its errors are caught
            return new ArchiveReader(zip, path, json);
        }
        catch (InvalidDataException)
        {
            zip?.Dispose();
            throw new LumenException(notAnArchive);
        }
    }

    /// <summary>Opens the archive held in <paramref name="entry"/> of this one (an ensemble's member).</summary>
    /// <exception cref="LumenException">The entry is missing, too large or not a zip archive.</exception>
    public ArchiveReader OpenNested(BlobEntry entry)
    {
        var memory = new MemoryStream(Read(entry), writable: false);
        string source = $"{Source}!{entry.Name}";
        try
        {
            var zip = new ZipArchive(memory, ZipArchiveMode.Read);
            _ = zip.Entries;
            return new ArchiveReader(zip, source, _json);
        }
        catch (InvalidDataException e)
        {
            throw new LumenException($"'{Source}' is corrupt: member {entry.Name} cannot be read ({e.Message})", e);
        }
    }

    /// <summary>True when the archive has <paramref name="entry"/>.</summary>
    public bool Has(ArchiveEntry entry) => _zip.GetEntry(entry.Name) is not null;

    /// <summary>The entry's value, or null when the archive does not have it.</summary>
    /// <exception cref="LumenException">The entry is too large, corrupt or not the expected JSON.</exception>
    public T? Read<T>(JsonEntry<T> entry) where T : class => TensorArchive.ReadJson<T>(_zip, entry.Name, Source, _json);

    /// <summary>The entry's bytes; <paramref name="sha256"/>, when given, must be their SHA-256 (hex).</summary>
    /// <exception cref="LumenException">The entry is missing, too large, corrupt, or its checksum differs.</exception>
    public byte[] Read(BlobEntry entry, string? sha256 = null)
    {
        var found = _zip.GetEntry(entry.Name) ?? throw new LumenException($"'{Source}' is not complete: it has no {entry.Name}");
        byte[] bytes = TensorArchive.Read(found, TensorArchive.MaxTensorBytes, Source);
        if (sha256 is not null && Sha256(bytes) != sha256)
            throw new LumenException($"'{Source}' is corrupt: the checksum of its {entry.Name} does not match (expected {sha256[..Math.Min(12, sha256.Length)]}…, got {Sha256(bytes)[..12]}…)");
        return bytes;
    }

    /// <summary>The tensors of a safetensors entry, checked before any is allocated (the caller owns them).</summary>
    public Dictionary<string, Tensor> ReadTensors(BlobEntry entry, string? sha256 = null) => TensorArchive.LoadSafetensors(Read(entry, sha256), Source);

    /// <summary>Every entry's name and bytes but those in <paramref name="except"/> (to rewrite the archive with a change).</summary>
    public List<(string Name, byte[] Bytes)> Entries(params ArchiveEntry[] except) => _zip.Entries
        .Where(e => except.All(x => x.Name != e.FullName))
        .Select(e => (e.FullName, TensorArchive.Read(e, TensorArchive.MaxTensorBytes, Source))).ToList();

    /// <summary>SHA-256 of <paramref name="bytes"/>, lower-case hex (what archives record).</summary>
    public static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    /// <inheritdoc />
    public void Dispose() => _zip.Dispose();
}

/// <summary>Writes a Lumen archive, entry by entry, to a file that appears complete or not at all (<see cref="AtomicFile"/>).</summary>
internal sealed class ArchiveWriter
{
    private readonly ZipArchive _zip;
    private readonly JsonSerializerOptions _json;

    private ArchiveWriter(ZipArchive zip, JsonSerializerOptions json) => (_zip, _json) = (zip, json);

    /// <summary>Writes <paramref name="path"/> atomically with the entries <paramref name="write"/> adds.</summary>
    public static void Write(string path, JsonSerializerOptions json, Action<ArchiveWriter> write) => AtomicFile.Write(path, stream =>
    {
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        write(new ArchiveWriter(zip, json));
    });

    /// <summary>Adds a JSON entry.</summary>
    public void Add<T>(JsonEntry<T> entry, T value) where T : class => Add(entry.Name, JsonSerializer.SerializeToUtf8Bytes(value, _json), CompressionLevel.Optimal);

    /// <summary>Adds a blob, uncompressed (tensors do not compress, and a stored entry reads without inflating).</summary>
    public void Add(BlobEntry entry, byte[] bytes) => Add(entry.Name, bytes, CompressionLevel.NoCompression);

    /// <summary>Adds a file as a blob, streamed (an ensemble's member models).</summary>
    public void AddFile(BlobEntry entry, string path)
    {
        using var stream = _zip.CreateEntry(entry.Name, CompressionLevel.NoCompression).Open();
        using var source = File.OpenRead(path);
        source.CopyTo(stream);
    }

    /// <summary>Adds entries copied from another archive, as they were.</summary>
    public void AddCopies(IEnumerable<(string Name, byte[] Bytes)> entries)
    {
        foreach (var (name, bytes) in entries) Add(name, bytes, name.EndsWith(".json", StringComparison.Ordinal) ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
    }

    private void Add(string name, byte[] bytes, CompressionLevel level)
    {
        using var stream = _zip.CreateEntry(name, level).Open();
        stream.Write(bytes);
    }
}
