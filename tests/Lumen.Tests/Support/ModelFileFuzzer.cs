using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Lumen.Tests.Support;

/// <summary>
/// A seeded mutation fuzzer for Lumen's zip files (model files, ensembles, checkpoints): starts from a
/// valid file and applies one mutation at the byte level (bit flips, truncation, inserted or deleted
/// bytes), the zip level (entries dropped, renamed to '..' paths, duplicated, inflating to hundreds
/// of megabytes) or the content level with the weights' checksum recomputed, so the parsers behind
/// it are reached: JSON values replaced by huge, negative, wrong-typed or missing ones, and
/// safetensors headers whose shapes, dtypes and offsets disagree with their bytes. Same seed, same
/// cases; shared by the tests and <c>bench … fuzz-models</c>.
/// </summary>
internal sealed class ModelFileFuzzer(byte[] original, int seed, int bombMegabytes = 1200)
{
    /// <summary>One generated file.</summary>
    public sealed record Case(int Number, string Mutation, byte[] Bytes);

    private static readonly string[] Mutations =
    {
        "bit flips", "truncation", "inserted bytes", "deleted bytes",
        "entry dropped", "entry renamed outside", "entry duplicated", "zip bomb",
        "json value", "json member removed", "tensor shape", "tensor dtype", "tensor offsets", "tensor header bytes",
    };

    /// <summary>Case <paramref name="number"/> (reproducible on its own).</summary>
    public Case Make(int number)
    {
        var random = new Random(Lumen.Seeds.Mix(seed, number));  // not HashCode.Combine: randomised per process, so --case N would not reproduce
        string mutation = Mutations[random.Next(Mutations.Length)];
        byte[] bytes = mutation switch
        {
            "bit flips" => FlipBits(original, random),
            "truncation" => original[..random.Next(original.Length)],
            "inserted bytes" => Splice(original, random, insert: true),
            "deleted bytes" => Splice(original, random, insert: false),
            _ => MutateEntries(mutation, random),
        };
        return new Case(number, mutation, bytes);
    }

    /// <summary>Cases 0 … <paramref name="count"/> − 1.</summary>
    public IEnumerable<Case> Cases(int count) => Enumerable.Range(0, count).Select(Make);

    private static byte[] FlipBits(byte[] bytes, Random random)
    {
        var copy = (byte[])bytes.Clone();
        int flips = 1 + random.Next(8);
        for (int i = 0; i < flips; i++) copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        return copy;
    }

    private static byte[] Splice(byte[] bytes, Random random, bool insert)
    {
        int at = random.Next(bytes.Length), length = 1 + random.Next(64);
        var list = bytes.ToList();
        if (insert) list.InsertRange(at, Enumerable.Range(0, length).Select(_ => (byte)random.Next(256)));
        else list.RemoveRange(at, Math.Min(length, bytes.Length - at));
        return list.ToArray();
    }

    /// <summary>
    /// <paramref name="file"/> with entry <paramref name="name"/> changed by <paramref name="change"/>
    /// (null: removed), the checksums recomputed unless told otherwise: a hand-made hostile file.
    /// </summary>
    public static byte[] WithEntry(byte[] file, string name, Func<byte[], byte[]?> change, bool fixChecksums = true)
    {
        var entries = new ModelFileFuzzer(file, 0, 0).Entries();
        int at = entries.FindIndex(e => e.Name == name);
        byte[]? changed = change(at < 0 ? Array.Empty<byte>() : entries[at].Bytes);
        if (at >= 0) entries.RemoveAt(at);
        if (changed is not null) entries.Insert(Math.Max(at, 0), (name, changed));
        if (fixChecksums) FixChecksum(entries);
        return Zip(entries, CompressionLevel.Fastest);
    }

    /// <summary>A safetensors blob with its header changed by <paramref name="change"/> and the data kept.</summary>
    public static byte[] WithHeader(byte[] safetensors, Action<JsonObject> change)
    {
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(safetensors);
        var header = JsonNode.Parse(safetensors.AsSpan(8, headerLength))!.AsObject();
        change(header);
        byte[] newHeader = Encoding.UTF8.GetBytes(header.ToJsonString());
        var result = new byte[8 + newHeader.Length + safetensors.Length - 8 - headerLength];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)newHeader.Length);
        newHeader.CopyTo(result, 8);
        safetensors.AsSpan(8 + headerLength).CopyTo(result.AsSpan(8 + newHeader.Length));
        return result;
    }

    private readonly Dictionary<int, byte[]> _bombs = new();

    /// <summary>The original with entry <paramref name="pick"/> replaced by <c>bombMegabytes</c> of zeros (about a thousandth of that compressed; made once per entry).</summary>
    private byte[] Bomb(int pick)
    {
        lock (_bombs)
        {
            if (_bombs.TryGetValue(pick, out var made)) return made;
            var entries = Entries();
            using var memory = new MemoryStream();
            using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
                for (int i = 0; i < entries.Count; i++)
                    using (var s = Entry(zip, entries[i].Name, CompressionLevel.Fastest))
                    {
                        if (i != pick) { s.Write(entries[i].Bytes); continue; }
                        var zeros = new byte[1 << 20];
                        for (int mb = 0; mb < bombMegabytes; mb++) s.Write(zeros);
                    }
            return _bombs[pick] = memory.ToArray();
        }
    }

    private List<(string Name, byte[] Bytes)>? _entries;

    /// <summary>The original's entries (read once; callers get their own list, sharing the arrays, which nobody changes).</summary>
    private List<(string Name, byte[] Bytes)> Entries() => new(_entries ??= ReadEntries());

    private List<(string Name, byte[] Bytes)> ReadEntries()
    {
        using var zip = new ZipArchive(new MemoryStream(original), ZipArchiveMode.Read);
        return zip.Entries.Select(e =>
        {
            using var s = e.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            return (e.FullName, m.ToArray());
        }).ToList();
    }

    private byte[] MutateEntries(string mutation, Random random)
    {
        var entries = Entries();
        int pick = random.Next(entries.Count);
        switch (mutation)
        {
            case "entry dropped":
                entries.RemoveAt(pick);
                break;
            case "entry renamed outside":
                entries[pick] = ("../../" + entries[pick].Name, entries[pick].Bytes);
                break;
            case "entry duplicated":
                entries.Add(entries[pick]);
                break;
            case "zip bomb":
                return Bomb(pick);
            case "json value":
            case "json member removed":
                int json = entries.FindIndex(e => e.Name.EndsWith(".json", StringComparison.Ordinal));
                if (json < 0) goto case "entry dropped";
                entries[json] = (entries[json].Name, MutateJson(entries[json].Bytes, random, remove: mutation == "json member removed"));
                break;
            default:
                int tensors = entries.FindIndex(e => e.Name.EndsWith(".safetensors", StringComparison.Ordinal));
                if (tensors < 0) goto case "entry dropped";
                entries[tensors] = (entries[tensors].Name, MutateSafetensors(entries[tensors].Bytes, mutation, random));
                break;
        }
        FixChecksum(entries);
        return Zip(entries, CompressionLevel.Fastest);
    }

    private static readonly JsonNode?[] Replacements =
    {
        null, -1, 0, int.MaxValue, long.MaxValue, 1e308, -1e308, "", "x", true, new JsonArray(), new JsonObject(), new JsonArray(1, 2, 3), "../../etc/passwd",
    };

    private static byte[] MutateJson(byte[] bytes, Random random, bool remove)
    {
        var root = JsonNode.Parse(bytes)!;
        var containers = new List<JsonNode>();
        void Walk(JsonNode? node)
        {
            if (node is JsonObject o) { containers.Add(o); foreach (var (_, v) in o) Walk(v); }
            else if (node is JsonArray a) { containers.Add(a); foreach (var v in a) Walk(v); }
        }
        Walk(root);
        var target = containers[random.Next(containers.Count)];
        if (target is JsonObject obj && obj.Count > 0)
        {
            string key = obj.ElementAt(random.Next(obj.Count)).Key;
            if (remove) obj.Remove(key);
            else obj[key] = Replacements[random.Next(Replacements.Length)]?.DeepClone();
        }
        else if (target is JsonArray array && array.Count > 0)
        {
            int i = random.Next(array.Count);
            if (remove) array.RemoveAt(i);
            else array[i] = Replacements[random.Next(Replacements.Length)]?.DeepClone();
        }
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    private static byte[] MutateSafetensors(byte[] bytes, string mutation, Random random)
    {
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (mutation == "tensor header bytes")
        {
            var copy = (byte[])bytes.Clone();
            int at = random.Next(Math.Min(copy.Length, 8 + headerLength));
            copy[at] = (byte)random.Next(256);
            return copy;
        }
        return WithHeader(bytes, header =>
        {
            var names = header.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
            var tensor = header[names[random.Next(names.Count)]]!.AsObject();
            switch (mutation)
            {
                case "tensor shape":
                    var shapes = new[] { new JsonArray(1_000_000_000, 1_000_000_000), new JsonArray(-1), new JsonArray(2, 2), new JsonArray(), new JsonArray(long.MaxValue, 2), new JsonArray(0) };
                    tensor["shape"] = shapes[random.Next(shapes.Length)];
                    break;
                case "tensor dtype":
                    var dtypes = new[] { "F8_E4M3", "STRING", "F64", "I8", "BOOL", "" };
                    tensor["dtype"] = dtypes[random.Next(dtypes.Length)];
                    break;
                default:
                    var offsets = new[] { new JsonArray(0, 4), new JsonArray(-8, 4), new JsonArray(0, long.MaxValue), new JsonArray(10, 2), new JsonArray(0) };
                    tensor["data_offsets"] = offsets[random.Next(offsets.Length)];
                    break;
            }
        });
    }

    /// <summary>A file whose tensors changed gets their new checksums (a model file's weights, a checkpoint's entries), so loading gets past them.</summary>
    private static void FixChecksum(List<(string Name, byte[] Bytes)> entries)
    {
        int meta = entries.FindIndex(e => e.Name == "checkpoint.json");
        if (meta >= 0)
        {
            try
            {
                var root = JsonNode.Parse(entries[meta].Bytes)!.AsObject();
                if (root["Sha256"] is JsonObject digests)
                {
                    foreach (var (name, bytes) in entries.Where(e => digests.ContainsKey(e.Name)))
                        digests[name] = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
                    entries[meta] = (entries[meta].Name, Encoding.UTF8.GetBytes(root.ToJsonString()));
                }
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
            {
                // checkpoint.json itself was mutated into something else: leave it.
            }
        }
        int info = entries.FindIndex(e => e.Name == "lumen.json");
        int weights = entries.FindIndex(e => e.Name == "weights.safetensors");
        if (info < 0 || weights < 0) return;
        try
        {
            var root = JsonNode.Parse(entries[info].Bytes)!.AsObject();
            root["WeightsSha256"] = Convert.ToHexString(SHA256.HashData(entries[weights].Bytes)).ToLowerInvariant();
            entries[info] = (entries[info].Name, Encoding.UTF8.GetBytes(root.ToJsonString()));
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            // lumen.json itself was mutated into something else: leave it.
        }
    }

    private static byte[] Zip(List<(string Name, byte[] Bytes)> entries, CompressionLevel level)
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, bytes) in entries)
                using (var s = Entry(zip, name, name.EndsWith(".safetensors", StringComparison.Ordinal) ? CompressionLevel.NoCompression : level))
                    s.Write(bytes);
        return memory.ToArray();
    }

    /// <summary>A new entry dated like every other, so a case's bytes depend on its seed and number only (not on the clock).</summary>
    private static Stream Entry(ZipArchive zip, string name, CompressionLevel level)
    {
        var entry = zip.CreateEntry(name, level);
        entry.LastWriteTime = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);
        return entry.Open();
    }
}
