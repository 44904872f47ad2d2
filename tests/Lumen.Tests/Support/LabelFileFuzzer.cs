using System.Text;

namespace Lumen.Tests.Support;

/// <summary>
/// A seeded mutation fuzzer for label files (the CSV of <c>file,label[,is_valid]</c>): from a valid
/// file, one mutation: bit flips, bytes that mean something to a CSV reader inserted (quotes, commas,
/// CR, LF, NUL, a BOM, invalid UTF-8), truncation, lines dropped or repeated, a cell of a megabyte,
/// file names that leave the folder or are not paths at all. Same seed, same cases; shared by the
/// tests and <c>bench … fuzz-models</c>.
/// </summary>
internal sealed class LabelFileFuzzer(byte[] original, int seed)
{
    /// <summary>One generated file.</summary>
    public sealed record Case(int Number, string Mutation, byte[] Bytes);

    private static readonly string[] Mutations = { "bit flips", "special bytes", "truncation", "lines", "huge cell", "file name", "is_valid" };

    private static readonly byte[][] Specials =
    {
        "\""u8.ToArray(), ","u8.ToArray(), "\r"u8.ToArray(), "\n"u8.ToArray(), new byte[] { 0 }, new byte[] { 0xEF, 0xBB, 0xBF },
        new byte[] { 0xFF, 0xFE }, new byte[] { 0xC3 }, "\"\""u8.ToArray(), ";"u8.ToArray(), "\t"u8.ToArray(), "../"u8.ToArray(),
    };

    private static readonly string[] FileNames =
    {
        "../../../../etc/passwd", "/etc/passwd", "a\0b.png", "", "   ", "\"", "C:\\Windows\\win.ini", new string('a', 5000) + ".png",
        "red/../../outside.png", "red/img000.png/", "*", "red/img000.png\r",
    };

    /// <summary>Case <paramref name="number"/> (reproducible on its own).</summary>
    public Case Make(int number)
    {
        var random = new Random(Lumen.Seeds.Mix(seed, number));  // not HashCode.Combine: randomised per process, so --case N would not reproduce
        string mutation = Mutations[random.Next(Mutations.Length)];
        var bytes = original.ToList();
        var lines = Encoding.UTF8.GetString(original).Split('\n').ToList();
        switch (mutation)
        {
            case "bit flips":
                for (int i = 1 + random.Next(8); i > 0; i--) bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                return new Case(number, mutation, bytes.ToArray());
            case "special bytes":
                for (int i = 1 + random.Next(4); i > 0; i--) bytes.InsertRange(random.Next(bytes.Count + 1), Specials[random.Next(Specials.Length)]);
                return new Case(number, mutation, bytes.ToArray());
            case "truncation":
                return new Case(number, mutation, original[..random.Next(original.Length)]);
            case "lines":
                int line = random.Next(lines.Count);
                if (random.Next(2) == 0) lines.RemoveAt(line);
                else lines.InsertRange(line, Enumerable.Repeat(lines[line], 1 + random.Next(50)));
                break;
            case "huge cell":
                int row = 1 + random.Next(lines.Count - 1);
                lines[row] = lines[row].Split(',')[0] + "," + new string((char)('a' + random.Next(26)), 1 << 20);
                break;
            case "file name":
                int at = 1 + random.Next(lines.Count - 1);
                var cells = lines[at].Split(',');
                cells[0] = FileNames[random.Next(FileNames.Length)];
                lines[at] = string.Join(",", cells);
                break;
            default:
                int r = random.Next(lines.Count);
                lines[r] = lines[r] + "," + new[] { "true", "maybe", "", "1", "\"\"", "TRUE", "2" }[random.Next(7)];
                if (r == 0) lines[0] = lines[0].Split(',')[0] + ",label,is_valid";
                break;
        }
        return new Case(number, mutation, Encoding.UTF8.GetBytes(string.Join("\n", lines)));
    }

    /// <summary>Cases 0 … <paramref name="count"/> − 1.</summary>
    public IEnumerable<Case> Cases(int count) => Enumerable.Range(0, count).Select(Make);
}
