using Lumen.Files;

namespace Lumen.Data;

/// <summary>The images a table lists, and the listed files that do not exist.</summary>
/// <param name="Files">Full paths of the listed images that exist, in table order.</param>
/// <param name="Missing">Listed files that were not found, with the line that names them.</param>
public sealed record ListedImages(IReadOnlyList<string> Files, IReadOnlyList<UnreadableFile> Missing);

/// <summary>
/// A table of images to use without labels (what <c>lumen predict --csv</c> reads): a header, then one
/// row per image whose first column is its path relative to the data folder; other columns are
/// ignored, so a labels CSV serves as well.
/// </summary>
public static class ImageList
{
    /// <summary>Reads <paramref name="csvPath"/>; paths resolve against <paramref name="folder"/>.</summary>
    /// <exception cref="DataException">The file is missing, has no rows after its header, or a row names no file.</exception>
    public static ListedImages Read(string csvPath, string folder)
    {
        folder = Path.GetFullPath(folder);
        if (!File.Exists(csvPath)) throw new DataException($"image list '{csvPath}' does not exist");
        var rows = Csv.ReadFile(csvPath);
        if (rows.Count < 2) throw new DataException($"image list '{csvPath}' has no rows after its header (expected a header, then one image path per row)");
        var files = new List<string>();
        var missing = new List<UnreadableFile>();
        foreach (var row in rows.Skip(1))
        {
            string file = row.Cells[0].Trim();
            if (file.Length == 0 || file.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
                throw new DataException($"image list '{csvPath}' line {row.Line}: the first column must name an image file, got '{row.Cells[0]}'");
            string full = Path.GetFullPath(Path.Combine(folder, file));
            if (File.Exists(full)) files.Add(full);
            else missing.Add(new UnreadableFile(full, $"listed in '{Path.GetFileName(csvPath)}' line {row.Line} but not found"));
        }
        return new ListedImages(files, missing);
    }
}
