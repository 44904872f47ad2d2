using Lumen.Files;
using Lumen.Tasks;

namespace Lumen.Data;

/// <summary>
/// Labels from a CSV file (fastai's <c>from_csv</c>): the first row is a header, the first column is the
/// image path relative to the data folder, the second holds the label(s). Several labels in one cell
/// are separated by spaces or ';' and make the data multi-label. An optional <c>is_valid</c> column
/// (true/false or 1/0) fixes the split.
/// </summary>
public static class CsvSource
{
    private static readonly char[] LabelSeparators = { ' ', ';', '\t' };

    /// <summary>Reads <paramref name="csvPath"/>; image paths resolve against <paramref name="folder"/>.</summary>
    /// <param name="csvPath">The CSV file; a relative path is looked up in <paramref name="folder"/> first.</param>
    /// <param name="folder">The folder the image paths are relative to.</param>
    /// <param name="task">Force <see cref="ImageTask.MultiLabel"/> or <see cref="ImageTask.SingleLabel"/> (the
    /// whole cell is one label, spaces allowed); null decides from the data: multi-label when any row has
    /// other than exactly one label.</param>
    /// <exception cref="DataException">The file is missing, empty or malformed (the message names the line).</exception>
    public static SourceListing Read(string csvPath, string folder, ImageTask? task = null)
    {
        folder = Path.GetFullPath(folder);
        string path = Path.IsPathRooted(csvPath) || !File.Exists(Path.Combine(folder, csvPath)) ? Path.GetFullPath(csvPath) : Path.Combine(folder, csvPath);
        if (!File.Exists(path)) throw new DataException($"labels file '{csvPath}' does not exist (looked in '{folder}' and the current folder)");

        var rows = Csv.ReadFile(path);
        if (rows.Count < 2) throw new DataException($"labels file '{path}' has no rows after its header (expected 'file,label' then one row per image)");
        string[] header = rows[0].Cells;
        if (header.Length < 2) throw new DataException($"labels file '{path}' line {rows[0].Line}: expected a header with at least two columns (file,label), got '{string.Join(",", header)}'");
        int validCol = Array.FindIndex(header, h => h.Trim().Equals("is_valid", StringComparison.OrdinalIgnoreCase));

        var items = new List<LabelledItem>();
        var splits = new List<Split>();
        var missing = new List<UnreadableFile>();
        foreach (var row in rows.Skip(1))
        {
            string[] cells = row.Cells;
            int n = row.Line - 1;
            if (cells.Length < 2) throw new DataException($"labels file '{path}' line {n + 1}: expected at least 2 columns (file,label), got '{string.Join(",", cells)}'");
            string file = cells[0].Trim();
            if (file.Length == 0) throw new DataException($"labels file '{path}' line {n + 1}: the file name is empty");
            if (file.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
                throw new DataException($"labels file '{path}' line {n + 1}: the file name contains a character no path may hold (such as NUL)");
            string full = Path.GetFullPath(Path.Combine(folder, file));
            // Forced single-label data keeps the whole cell, so class names may contain spaces.
            string[] labels = task == ImageTask.SingleLabel
                ? new[] { cells[1].Trim() }.Where(l => l.Length > 0).ToArray()
                : cells[1].Split(LabelSeparators, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (!File.Exists(full))
            {
                missing.Add(new UnreadableFile(full, $"listed in '{Path.GetFileName(path)}' line {n + 1} but not found"));
                continue;
            }
            items.Add(new LabelledItem(full, labels));
            if (validCol >= 0)
            {
                string flag = validCol < cells.Length ? cells[validCol].Trim().ToLowerInvariant() : "";
                splits.Add(flag switch
                {
                    "true" or "1" or "yes" => Split.Valid,
                    "false" or "0" or "no" or "" => Split.Train,
                    _ => throw new DataException($"labels file '{path}' line {n + 1}: is_valid must be true/false or 1/0, got '{flag}'"),
                });
            }
        }

        task ??= items.Any(i => i.Labels.Count != 1) ? ImageTask.MultiLabel : ImageTask.SingleLabel;
        if (task == ImageTask.SingleLabel)
        {
            int bad = items.FindIndex(i => i.Labels.Count != 1);
            if (bad >= 0) throw new DataException($"labels file '{path}': '{items[bad].Path}' has {items[bad].Labels.Count} labels but single-label data needs exactly one");
        }
        return new SourceListing(items, validCol >= 0 ? splits : null, missing, 0, task);
    }
}
