using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.Json;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Lumen.Tensors;

/// <summary>
/// Reading the zip-of-JSON-and-safetensors files Lumen writes (model files, ensembles, checkpoints)
/// as untrusted input: every entry is read with a size limit (a zip bomb stops at the limit, not at
/// the end of memory), and a safetensors header is checked against its own bytes before any tensor
/// is allocated (a declared shape or dtype that disagrees with the data, overlapping or
/// out-of-range offsets, or a gigantic shape is refused with a message naming the file).
/// </summary>
internal static class TensorArchive
{
    /// <summary>Limit of a JSON entry (metadata, calibration, image hashes of a million images).</summary>
    public const long MaxJsonBytes = 128L * 1024 * 1024;

    /// <summary>Limit of a tensor entry or an ensemble member: ResNet-152's weights are 0.24 GB, its optimiser state 0.48 GB.</summary>
    public const long MaxTensorBytes = 1L << 30;

    /// <summary>Reads <paramref name="entry"/> whole, refusing one that inflates past <paramref name="limit"/> bytes.</summary>
    /// <exception cref="LumenException">The entry is larger than the limit or its compressed data is corrupt.</exception>
    public static byte[] Read(ZipArchiveEntry entry, long limit, string source)
    {
        // The declared size is checked first (a bomb that tells the truth stops here at once); one that
        // lies is stopped by counting while it inflates.
        if (entry.Length > limit)
            throw new LumenException($"'{source}' is not a valid file: its entry {entry.FullName} declares {entry.Length:N0} bytes, more than the limit of {limit:N0} (a zip bomb, or not a file Lumen wrote)");
        try
        {
            using var stream = entry.Open();
            using var memory = new MemoryStream((int)Math.Min(Math.Max(entry.Length, 0), limit));
            var buffer = new byte[81920];
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                if (memory.Length + read > limit)
                    throw new LumenException($"'{source}' is not a valid file: its entry {entry.FullName} inflates to more than {limit:N0} bytes (a zip bomb, or not a file Lumen wrote)");
                memory.Write(buffer, 0, read);
            }
            return memory.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new LumenException($"'{source}' is corrupt: its entry {entry.FullName} cannot be read ({e.Message})", e);
        }
    }

    /// <summary>Reads and deserializes a JSON entry; null when the file has no such entry.</summary>
    /// <exception cref="LumenException">The entry is too large, corrupt or not the expected JSON.</exception>
    public static T? ReadJson<T>(ZipArchive zip, string name, string source, JsonSerializerOptions options) where T : class
    {
        if (zip.GetEntry(name) is not { } entry) return null;
        byte[] bytes = Read(entry, MaxJsonBytes, source);
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, options);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new LumenException($"'{source}' is corrupt: its {name} cannot be read ({e.Message})", e);
        }
    }

    private static readonly Dictionary<string, int> DtypeSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["I16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["F32"] = 4, ["I64"] = 8, ["F64"] = 8,
    };

    /// <summary>
    /// Checks a safetensors blob's header against its data, then loads its tensors (on the CPU).
    /// The caller owns the returned tensors.
    /// </summary>
    /// <exception cref="LumenException">The header is malformed or disagrees with the data.</exception>
    public static Dictionary<string, Tensor> LoadSafetensors(byte[] bytes, string source)
    {
        Check(bytes, source);
        try
        {
            using var memory = new MemoryStream(bytes, writable: false);
            return Safetensors.LoadStateDict(memory);
        }
        catch (Exception e) when (e is not LumenException and not OutOfMemoryException)
        {
            throw new LumenException($"'{source}' is corrupt: its tensors cannot be read ({e.Message})", e);
        }
    }

    /// <summary>The safetensors format's invariants (the specification's list), each refused with what was found.</summary>
    internal static void Check(byte[] bytes, string source)
    {
        string Bad(string what) => $"'{source}' is corrupt: its tensors {what}";
        if (bytes.Length < 8) throw new LumenException(Bad("are truncated (no header)"));
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8) || headerLength > 100_000_000)
            throw new LumenException(Bad($"declare a header of {headerLength:N0} bytes in a blob of {bytes.Length:N0}"));
        long dataStart = 8 + (long)headerLength, dataLength = bytes.Length - dataStart;
        JsonDocument header;
        try
        {
            header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        }
        catch (JsonException e)
        {
            throw new LumenException(Bad($"have an unreadable header ({e.Message})"), e);
        }
        using (header)
        {
            try
            {
                CheckTensors(header.RootElement, dataLength, Bad);
            }
            catch (InvalidOperationException e)
            {
                // Names that are not valid UTF-8, values of an unexpected kind.
                throw new LumenException(Bad($"have an unreadable header ({e.Message})"), e);
            }
        }
    }

    private static void CheckTensors(JsonElement root, long dataLength, Func<string, string> bad)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new LumenException(bad("have a header that is not a JSON object"));
        var spans = new List<(long Begin, long End, string Name)>();
        foreach (var tensor in root.EnumerateObject())
        {
            if (tensor.Name == "__metadata__") continue;
            var t = tensor.Value;
            if (t.ValueKind != JsonValueKind.Object
                || !t.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String
                || !t.TryGetProperty("shape", out var shape) || shape.ValueKind != JsonValueKind.Array
                || !t.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
                throw new LumenException(bad($"describe '{tensor.Name}' without a dtype, shape and two data offsets"));
            if (!DtypeSizes.TryGetValue(dtype.GetString()!, out int size))
                throw new LumenException(bad($"give '{tensor.Name}' the unsupported dtype '{dtype.GetString()}'"));
            long elements = 1;
            foreach (var dim in shape.EnumerateArray())
            {
                if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                    throw new LumenException(bad($"give '{tensor.Name}' the invalid dimension {dim.GetRawText()}"));
                // Past the data's length the product is wrong already; stopping there also avoids overflow.
                elements = d == 0 ? 0 : elements > dataLength / d ? dataLength + 1 : elements * d;
            }
            long begin = offsets[0].TryGetInt64(out long b) ? b : -1, end = offsets[1].TryGetInt64(out long e) ? e : -1;
            if (begin < 0 || end < begin || end > dataLength)
                throw new LumenException(bad($"place '{tensor.Name}' at bytes {offsets[0].GetRawText()}..{offsets[1].GetRawText()}, outside the {dataLength:N0} bytes of data"));
            if (elements > dataLength || elements * size != end - begin)
                throw new LumenException(bad($"declare '{tensor.Name}' as {dtype.GetString()} [{string.Join(",", shape.EnumerateArray().Select(d => d.GetRawText()))}] but give it {end - begin:N0} bytes"));
            spans.Add((begin, end, tensor.Name));
        }
        spans.Sort((x, y) => x.Begin.CompareTo(y.Begin));
        for (int i = 1; i < spans.Count; i++)
            if (spans[i].Begin < spans[i - 1].End)
                throw new LumenException(bad($"overlap: '{spans[i - 1].Name}' and '{spans[i].Name}' share bytes"));
    }
}
