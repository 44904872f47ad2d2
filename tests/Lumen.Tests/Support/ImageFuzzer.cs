using Lumen.Imaging;
using SkiaSharp;

namespace Lumen.Tests.Support;

/// <summary>
/// A seeded mutation fuzzer for image files: starts from valid JPEG, PNG, WebP, GIF and BMP files
/// (encoded from a real photograph when one is given) and applies one to three mutations: bit flips,
/// truncation, edited length and dimension fields, reordered chunks or segments, inserted, deleted or
/// duplicated bytes. The same seed always gives the same cases, so a failure is reproducible from its
/// case number; no corpus is stored. Shared by the tests and <c>bench … fuzz</c>.
/// </summary>
internal sealed class ImageFuzzer
{
    /// <summary>One generated input.</summary>
    public sealed record Case(int Number, string Format, string Mutations, byte[] Bytes)
    {
        /// <summary>A file name for the case (extension of its original format).</summary>
        public string FileName => $"case{Number:D5}.{Format}";
    }

    private readonly (string Format, byte[] Bytes)[] _seeds;
    private readonly int _seed;

    /// <summary>Seeds the fuzzer with one valid file per format, made from <paramref name="source"/> (or a generated pattern).</summary>
    public ImageFuzzer(int seed, RgbImage? source = null)
    {
        _seed = seed;
        var image = source ?? TestImages.Pattern(96, 64, seed);
        _seeds = new[]
        {
            ("jpg", TestImages.Encode(image, SKEncodedImageFormat.Jpeg, 90)),
            ("png", TestImages.Encode(image, SKEncodedImageFormat.Png)),
            ("webp", TestImages.Encode(image, SKEncodedImageFormat.Webp, 80)),
            ("gif", TestImages.Gif(image.Width, image.Height, (200, 30, 30), (30, 200, 30))),
            ("bmp", TestImages.Bmp(image)),
        };
    }

    /// <summary>The valid originals, one per format.</summary>
    public IReadOnlyList<(string Format, byte[] Bytes)> Seeds => _seeds;

    /// <summary>Cases 0 .. <paramref name="count"/>-1.</summary>
    public IEnumerable<Case> Cases(int count)
    {
        for (int n = 0; n < count; n++) yield return Make(n);
    }

    /// <summary>Case <paramref name="number"/> (independent of the others).</summary>
    public Case Make(int number)
    {
        // Seeds.Mix, not HashCode.Combine: the latter is randomised per process, so cases would not reproduce.
        var random = new Random(Lumen.Seeds.Mix(_seed, number));
        var (format, original) = _seeds[number % _seeds.Length];
        var bytes = new List<byte>(original);
        var applied = new List<string>();
        int mutations = 1 + random.Next(3);
        for (int m = 0; m < mutations && bytes.Count > 0; m++) applied.Add(Mutate(bytes, format, random));
        return new Case(number, format, string.Join("+", applied), bytes.ToArray());
    }

    private static string Mutate(List<byte> b, string format, Random r)
    {
        switch (r.Next(8))
        {
            case 0:
            {
                int flips = 1 + r.Next(8);
                for (int i = 0; i < flips; i++) { int at = r.Next(b.Count); b[at] ^= (byte)(1 << r.Next(8)); }
                return $"flip{flips}";
            }
            case 1:
            {
                int keep = r.Next(b.Count);
                b.RemoveRange(keep, b.Count - keep);
                return $"truncate@{keep}";
            }
            case 2:
                return EditField(b, format, r, dimensions: true);
            case 3:
                return EditField(b, format, r, dimensions: false);
            case 4:
                return Reorder(b, format, r);
            case 5:
            {
                int at = r.Next(b.Count + 1), n = 1 + r.Next(64);
                b.InsertRange(at, Enumerable.Range(0, n).Select(_ => (byte)r.Next(256)));
                return $"insert{n}@{at}";
            }
            case 6:
            {
                int at = r.Next(b.Count), n = Math.Min(1 + r.Next(64), b.Count - at);
                b.RemoveRange(at, n);
                return $"delete{n}@{at}";
            }
            default:
            {
                int from = r.Next(b.Count), n = Math.Min(1 + r.Next(256), b.Count - from), at = r.Next(b.Count + 1);
                b.InsertRange(at, b.GetRange(from, n));
                return $"duplicate{n}@{at}";
            }
        }
    }

    // Values that break parsers: zero, one, all-ones, sign bits, huge.
    private static readonly uint[] Nasty = { 0, 1, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 65500, 100000 };

    private static uint NastyOrRandom(Random r) => r.Next(3) == 0 ? (uint)r.Next() : Nasty[r.Next(Nasty.Length)];

    /// <summary>Overwrites a width/height field (dimensions) or a length/size field with a hostile value.</summary>
    private static string EditField(List<byte> b, string format, Random r, bool dimensions)
    {
        var fields = Fields(b, format, dimensions);
        if (fields.Count == 0) return "field(none)";
        var (offset, size, bigEndian) = fields[r.Next(fields.Count)];
        if (offset + size > b.Count) return "field(short)";
        uint value = NastyOrRandom(r);
        for (int i = 0; i < size; i++)
        {
            int shift = 8 * (bigEndian ? size - 1 - i : i);
            b[offset + i] = (byte)(value >> shift);
        }
        return $"{(dimensions ? "dims" : "length")}@{offset}={value}";
    }

    private static List<(int Offset, int Size, bool BigEndian)> Fields(List<byte> b, string format, bool dimensions)
    {
        var fields = new List<(int, int, bool)>();
        switch (format)
        {
            case "png":
                if (dimensions) { fields.Add((16, 4, true)); fields.Add((20, 4, true)); }
                else foreach (int at in PngChunks(b).Select(c => c.Start)) fields.Add((at, 4, true));
                break;
            case "jpg":
                foreach (var (marker, at) in JpegSegments(b))
                {
                    if (!dimensions) fields.Add((at + 2, 2, true));
                    else if (marker is 0xC0 or 0xC1 or 0xC2) { fields.Add((at + 5, 2, true)); fields.Add((at + 7, 2, true)); }
                }
                break;
            case "gif":
                if (dimensions) { fields.Add((6, 2, false)); fields.Add((8, 2, false)); }
                else fields.Add((10, 1, false)); // packed field: global palette size
                break;
            case "bmp":
                if (dimensions) { fields.Add((18, 4, false)); fields.Add((22, 4, false)); fields.Add((28, 2, false)); }
                else { fields.Add((2, 4, false)); fields.Add((10, 4, false)); fields.Add((14, 4, false)); fields.Add((34, 4, false)); }
                break;
            case "webp":
                if (dimensions) { fields.Add((26, 2, false)); fields.Add((28, 2, false)); }
                else { fields.Add((4, 4, false)); fields.Add((16, 4, false)); }
                break;
        }
        return fields;
    }

    /// <summary>Swaps two PNG chunks or two JPEG segments (other formats: two blocks of bytes).</summary>
    private static string Reorder(List<byte> b, string format, Random r)
    {
        var spans = format switch
        {
            "png" => PngChunks(b).Select(c => (c.Start, c.Length)).ToList(),
            "jpg" => JpegSpans(b),
            _ => new List<(int Start, int Length)>(),
        };
        if (spans.Count < 2)
        {
            int n = Math.Max(1, b.Count / 8), a = r.Next(Math.Max(1, b.Count - 2 * n)), c = a + n + r.Next(Math.Max(1, b.Count - a - 2 * n));
            spans = new List<(int, int)> { (a, n), (Math.Min(c, b.Count - n), n) };
            if (spans[1].Start < spans[0].Start + n) return "swap(none)";
        }
        int i = r.Next(spans.Count), j = r.Next(spans.Count);
        if (i == j) j = (i + 1) % spans.Count;
        if (i > j) (i, j) = (j, i);
        var (s1, l1) = spans[i];
        var (s2, l2) = spans[j];
        var first = b.GetRange(s1, l1);
        var second = b.GetRange(s2, l2);
        var middle = b.GetRange(s1 + l1, s2 - (s1 + l1));
        b.RemoveRange(s1, s2 + l2 - s1);
        b.InsertRange(s1, second.Concat(middle).Concat(first));
        return $"swap{i}<->{j}";
    }

    private static List<(int Start, int Length)> PngChunks(List<byte> b)
    {
        var chunks = new List<(int, int)>();
        int at = 8;
        while (at + 12 <= b.Count)
        {
            long length = ((long)b[at] << 24) | ((long)b[at + 1] << 16) | ((long)b[at + 2] << 8) | b[at + 3];
            if (at + 12 + length > b.Count) break;
            chunks.Add((at, (int)(12 + length)));
            at += (int)(12 + length);
        }
        return chunks;
    }

    private static List<(byte Marker, int Start)> JpegSegments(List<byte> b)
    {
        var segments = new List<(byte, int)>();
        int at = 2;
        while (at + 4 <= b.Count && b[at] == 0xFF)
        {
            byte marker = b[at + 1];
            int length = (b[at + 2] << 8) | b[at + 3];
            segments.Add((marker, at));
            if (marker == 0xDA) break; // entropy-coded data follows
            at += 2 + length;
        }
        return segments;
    }

    private static List<(int Start, int Length)> JpegSpans(List<byte> b)
    {
        var segments = JpegSegments(b).Where(s => s.Marker != 0xDA).ToList();
        return segments.Select(s => (s.Start, 2 + ((b[s.Start + 2] << 8) | b[s.Start + 3])))
            .Where(s => s.Start + s.Item2 <= b.Count).ToList();
    }
}
