using System.Globalization;
using Lumen.Files;
using Lumen.Imaging;

namespace Lumen.Data.Masks;

/// <summary>How a mask file's pixels are written.</summary>
public enum MaskKind
{
    /// <summary>Foreground against background, in grey levels (JPEG tolerated): a pixel is foreground
    /// above half intensity, or, in masks holding only 0 and 1, where it is 1.</summary>
    Binary,

    /// <summary>The pixel value is the class index (fastai's masks with <c>codes.txt</c>).</summary>
    ClassIndex,

    /// <summary>Each class has a colour (<c>class_dict.csv</c>: name,r,g,b, as CamVid and Kvasir-SEG ship).</summary>
    ColourMap,
}

/// <summary>
/// How mask pixels map to classes, and the classes' names in index order (index 0 is the
/// background for binary masks): binary, class indices with a codes file, or a colour map.
/// </summary>
public sealed class MaskEncoding
{
    /// <summary>The most classes a mask can hold (class indices are bytes).</summary>
    public const int MaxClasses = 256;

    /// <summary>Colours whose channels all lie within this distance of a class colour are that class (JPEG-compressed colour masks).</summary>
    public const int ColourTolerance = 48;

    private readonly (byte R, byte G, byte B)[] _colours;

    private MaskEncoding(MaskKind kind, IReadOnlyList<string> classes, (byte, byte, byte)[]? colours = null)
    {
        if (classes.Count < 2) throw new DataException($"a segmentation needs at least 2 classes (the background and one more), got {classes.Count}");
        if (classes.Count > MaxClasses) throw new DataException($"a segmentation has at most {MaxClasses} classes, got {classes.Count}");
        var duplicate = classes.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new DataException($"the class '{duplicate.Key}' is named twice");
        Kind = kind;
        Classes = classes;
        _colours = colours ?? Array.Empty<(byte, byte, byte)>();
    }

    /// <summary>How pixels are written.</summary>
    public MaskKind Kind { get; }

    /// <summary>Class names in index order.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>Binary masks: classes <paramref name="background"/> (0) and <paramref name="foreground"/> (1).</summary>
    public static MaskEncoding Binary(string background = "background", string foreground = "foreground") =>
        new(MaskKind.Binary, new[] { background, foreground });

    /// <summary>Class-index masks with these class names (index order).</summary>
    public static MaskEncoding ClassIndices(IReadOnlyList<string> classes) => new(MaskKind.ClassIndex, classes);

    /// <summary>Colour masks: class i is painted in <paramref name="colours"/>[i].</summary>
    public static MaskEncoding ColourMap(IReadOnlyList<string> classes, IReadOnlyList<(byte R, byte G, byte B)> colours)
    {
        if (colours.Count != classes.Count) throw new ArgumentException($"{classes.Count} classes but {colours.Count} colours", nameof(colours));
        return new MaskEncoding(MaskKind.ColourMap, classes, colours.ToArray());
    }

    /// <summary>fastai's <c>codes.txt</c>: one class name per line, in index order (blank lines ignored).</summary>
    /// <exception cref="DataException">The file is unreadable or names fewer than 2 classes.</exception>
    public static MaskEncoding FromCodesFile(string path)
    {
        string[] lines = ReadText(path).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        try
        {
            return ClassIndices(lines);
        }
        catch (DataException e)
        {
            throw new DataException($"{path}: {e.Message} (expected one class name per line, the background first)");
        }
    }

    /// <summary>A colour map, <c>class_dict.csv</c>: a header, then name,r,g,b per class in index order.</summary>
    /// <exception cref="DataException">The file is unreadable, a row is not name and three values 0-255, or a colour repeats.</exception>
    public static MaskEncoding FromColourMapFile(string path)
    {
        var rows = Csv.Parse(ReadText(path)).ToList();
        if (rows.Count < 2) throw new DataException($"{path}: expected a header and a row (name,r,g,b) per class");
        var names = new List<string>();
        var colours = new List<(byte, byte, byte)>();
        foreach (var row in rows.Skip(1))
        {
            if (row.Cells.Length < 4 || !TryByte(row.Cells[1], out byte r) || !TryByte(row.Cells[2], out byte g) || !TryByte(row.Cells[3], out byte b))
                throw new DataException($"{path}, line {row.Line}: expected name,r,g,b with values 0-255, got '{string.Join(",", row.Cells)}'");
            if (colours.Contains((r, g, b))) throw new DataException($"{path}, line {row.Line}: the colour ({r},{g},{b}) is given to two classes");
            names.Add(row.Cells[0].Trim());
            colours.Add((r, g, b));
        }
        try
        {
            return ColourMap(names, colours);
        }
        catch (DataException e)
        {
            throw new DataException($"{path}: {e.Message}");
        }
    }

    /// <summary>
    /// The class index of every pixel of a decoded mask file.
    /// </summary>
    /// <param name="mask">The decoded mask.</param>
    /// <param name="path">The mask file (named in errors).</param>
    /// <exception cref="DataException">A pixel holds a class index or colour the encoding does not know.</exception>
    public ClassMask Classify(RgbImage mask, string path)
    {
        byte[] px = mask.Pixels;
        var classes = new byte[mask.Width * mask.Height];
        switch (Kind)
        {
            case MaskKind.Binary:
            {
                byte max = 0;
                for (int i = 0; i < classes.Length; i++) max = Math.Max(max, Grey(px, i));
                int cut = max <= 1 ? 1 : 128;
                for (int i = 0; i < classes.Length; i++) classes[i] = Grey(px, i) >= cut ? (byte)1 : (byte)0;
                break;
            }
            case MaskKind.ClassIndex:
                for (int i = 0; i < classes.Length; i++)
                {
                    byte value = px[i * 4];
                    if (value >= Classes.Count)
                        throw new DataException($"{path}: pixel ({i % mask.Width}, {i / mask.Width}) holds class {value}, but the codes name {Classes.Count} classes (0-{Classes.Count - 1})");
                    classes[i] = value;
                }
                break;
            default:
                for (int i = 0; i < classes.Length; i++) classes[i] = NearestColour(px, i, mask.Width, path);
                break;
        }
        return new ClassMask(mask.Width, mask.Height, classes);
    }

    private static byte Grey(byte[] px, int i) => (byte)((px[i * 4] + px[i * 4 + 1] + px[i * 4 + 2] + 1) / 3);

    private byte NearestColour(byte[] px, int i, int width, string path)
    {
        int r = px[i * 4], g = px[i * 4 + 1], b = px[i * 4 + 2];
        int best = -1, bestDistance = int.MaxValue;
        for (int c = 0; c < _colours.Length; c++)
        {
            var (cr, cg, cb) = _colours[c];
            int distance = Math.Max(Math.Abs(r - cr), Math.Max(Math.Abs(g - cg), Math.Abs(b - cb)));
            if (distance < bestDistance) (best, bestDistance) = (c, distance);
        }
        if (bestDistance > ColourTolerance)
            throw new DataException($"{path}: pixel ({i % width}, {i / width}) has the colour ({r},{g},{b}), which is no class's colour in the colour map");
        return (byte)best;
    }

    private static bool TryByte(string text, out byte value) => byte.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static string ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read it ({e.Message})");
        }
    }
}

/// <summary>An item's mask: the file and how its pixels are written.</summary>
/// <param name="Path">Full path of the mask image.</param>
/// <param name="Encoding">How pixels map to classes.</param>
public sealed record MaskFile(string Path, MaskEncoding Encoding)
{
    /// <summary>
    /// Decodes the file and maps its pixels to classes, at the file's own size, or, given
    /// <paramref name="minShortSide"/>, possibly smaller (JPEG decodes at 1/2, 1/4 or 1/8 scale) with
    /// the same frame: transforms map a mask onto its image by the frame, not by pixels.
    /// </summary>
    /// <exception cref="ImageDecodeException">The file is not a readable image.</exception>
    /// <exception cref="DataException">A pixel is no class of the encoding.</exception>
    public ClassMask Read(int minShortSide = 0) => Encoding.Classify(ImageDecoder.Decode(Path, minShortSide), Path);
}
