using Lumen.Imaging;

namespace Lumen.Data;

/// <summary>What a data source found: labelled items, a fixed split if the source defines one, and problems.</summary>
/// <param name="Items">Labelled image files.</param>
/// <param name="FixedSplit">Per item, its split when the source defines one (train/valid folders, an
/// <c>is_valid</c> CSV column); null when the split must be drawn at random.</param>
/// <param name="Missing">Files a label list names that do not exist, with the reason.</param>
/// <param name="IgnoredFiles">Files skipped because they are not images or have no class folder.</param>
/// <param name="MultiLabel">True when items may carry several labels (multi-hot targets).</param>
/// <param name="Warnings">What the user should know about the listing (link cycles, unreadable folders).</param>
public sealed record SourceListing(
    IReadOnlyList<LabelledItem> Items,
    IReadOnlyList<Split>? FixedSplit,
    IReadOnlyList<UnreadableFile> Missing,
    int IgnoredFiles,
    bool MultiLabel,
    IReadOnlyList<string>? Warnings = null);

/// <summary>A file that could not be used, with the reason.</summary>
public sealed record UnreadableFile(string Path, string Reason);

/// <summary>
/// Folder-per-class images (fastai's <c>from_folder</c> with <c>parent_label</c>): each image's label is
/// the name of the folder that holds it; folders are searched recursively (symbolic links followed, see
/// <see cref="FolderWalk"/>); hidden files and folders (names starting with '.', such as
/// <c>.ipynb_checkpoints</c>) and non-image files are ignored. When the folder has <c>train/</c> and
/// <c>valid/</c> sub-folders they define the split.
/// </summary>
public static class FolderSource
{
    /// <summary>Lists the labelled images under <paramref name="root"/>.</summary>
    /// <exception cref="DataException">The folder does not exist.</exception>
    public static SourceListing Scan(string root, string trainFolder = "train", string validFolder = "valid")
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root)) throw new DataException($"data folder '{root}' does not exist");
        string train = Path.Combine(root, trainFolder), valid = Path.Combine(root, validFolder);
        if (Directory.Exists(train) && Directory.Exists(valid))
        {
            var t = ScanTree(train);
            var v = ScanTree(valid);
            var splits = Enumerable.Repeat(Split.Train, t.Items.Count).Concat(Enumerable.Repeat(Split.Valid, v.Items.Count)).ToArray();
            return new SourceListing(t.Items.Concat(v.Items).ToArray(), splits, t.Walk.Broken.Concat(v.Walk.Broken).ToList(), t.Ignored + v.Ignored, false,
                t.Walk.Warnings.Concat(v.Walk.Warnings).ToList());
        }
        var all = ScanTree(root);
        return new SourceListing(all.Items, null, all.Walk.Broken, all.Ignored, false, all.Walk.Warnings);
    }

    /// <summary>
    /// Labels from file names (fastai's <c>from_name_re</c>): every image below <paramref name="root"/>
    /// whose name matches <paramref name="pattern"/> gets group 1 as its label; others are ignored.
    /// </summary>
    /// <exception cref="DataException">The folder is missing or the pattern is invalid or has no group.</exception>
    public static SourceListing ScanFileNames(string root, string pattern)
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root)) throw new DataException($"data folder '{root}' does not exist");
        System.Text.RegularExpressions.Regex regex;
        try
        {
            regex = new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new OptionException("LabelRegex", $"'{pattern}' is not a valid regular expression: {e.Message}");
        }
        if (regex.GetGroupNumbers().Length < 2) throw new OptionException("LabelRegex", $"'{pattern}' needs a capture group, e.g. '^(.+)_\\d+\\.jpg$'");
        return ScanNames(root, name => regex.Match(name) is { Success: true } match ? match.Groups[1].Value : null);
    }

    /// <summary>
    /// Labels from a function of the file name (fastai's <c>from_name_func</c>): every image below
    /// <paramref name="root"/> gets <paramref name="label"/>(its name); null or empty means no label (ignored).
    /// </summary>
    /// <exception cref="DataException">The folder is missing.</exception>
    public static SourceListing ScanNames(string root, Func<string, string?> label)
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root)) throw new DataException($"data folder '{root}' does not exist");
        var items = new List<LabelledItem>();
        int ignored = 0;
        var walk = FolderWalk.Walk(root);
        foreach (string file in walk.Files)
        {
            string? name = ImageDecoder.IsImageFile(file) ? label(Path.GetFileName(file)) : null;
            if (string.IsNullOrEmpty(name)) { ignored++; continue; }
            items.Add(new LabelledItem(file, name));
        }
        return new SourceListing(items, null, walk.Broken, ignored, false, walk.Warnings);
    }

    private static (List<LabelledItem> Items, int Ignored, FolderWalk.Result Walk) ScanTree(string top)
    {
        var items = new List<LabelledItem>();
        int ignored = 0;
        var walk = FolderWalk.Walk(top);
        foreach (string file in walk.Files)
        {
            string? parent = Path.GetDirectoryName(file);
            // A file directly in the top folder has no class folder, so no label.
            if (!ImageDecoder.IsImageFile(file) || parent is null || Path.GetFullPath(parent) == top)
            {
                ignored++;
                continue;
            }
            items.Add(new LabelledItem(file, Path.GetFileName(parent)));
        }
        // The walk lists files sorted, so splits and batches never depend on the file system's enumeration order.
        return (items, ignored, walk);
    }

    /// <summary>Every image file below <paramref name="folder"/> (recursively, links followed, hidden ones skipped), sorted.</summary>
    public static IReadOnlyList<string> ImageFiles(string folder) =>
        FolderWalk.Walk(folder).Files.Where(ImageDecoder.IsImageFile).ToList();
}

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
    /// <param name="multiLabel">Force multi-label (true) or single-label (false: the whole cell is one
    /// label, spaces allowed); null decides from the data: multi-label when any row has other than
    /// exactly one label.</param>
    /// <exception cref="DataException">The file is missing, empty or malformed (the message names the line).</exception>
    public static SourceListing Read(string csvPath, string folder, bool? multiLabel = null)
    {
        folder = Path.GetFullPath(folder);
        string path = Path.IsPathRooted(csvPath) || !File.Exists(Path.Combine(folder, csvPath)) ? Path.GetFullPath(csvPath) : Path.Combine(folder, csvPath);
        if (!File.Exists(path)) throw new DataException($"labels file '{csvPath}' does not exist (looked in '{folder}' and the current folder)");

        string[] lines = File.ReadAllLines(path);
        if (lines.Length < 2) throw new DataException($"labels file '{path}' has no rows after its header (expected 'file,label' then one row per image)");
        string[] header = ParseLine(lines[0]);
        if (header.Length < 2) throw new DataException($"labels file '{path}' line 1: expected a header with at least two columns (file,label), got '{lines[0]}'");
        int validCol = Array.FindIndex(header, h => h.Trim().Equals("is_valid", StringComparison.OrdinalIgnoreCase));

        var items = new List<LabelledItem>();
        var splits = new List<Split>();
        var missing = new List<UnreadableFile>();
        for (int n = 1; n < lines.Length; n++)
        {
            if (string.IsNullOrWhiteSpace(lines[n])) continue;
            string[] cells = ParseLine(lines[n]);
            if (cells.Length < 2) throw new DataException($"labels file '{path}' line {n + 1}: expected at least 2 columns (file,label), got '{lines[n]}'");
            string file = cells[0].Trim();
            if (file.Length == 0) throw new DataException($"labels file '{path}' line {n + 1}: the file name is empty");
            if (file.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
                throw new DataException($"labels file '{path}' line {n + 1}: the file name contains a character no path may hold (such as NUL)");
            string full = Path.GetFullPath(Path.Combine(folder, file));
            // Forced single-label data keeps the whole cell, so class names may contain spaces.
            string[] labels = multiLabel == false
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

        bool multi = multiLabel ?? items.Any(i => i.Labels.Count != 1);
        if (!multi)
        {
            int bad = items.FindIndex(i => i.Labels.Count != 1);
            if (bad >= 0) throw new DataException($"labels file '{path}': '{items[bad].Path}' has {items[bad].Labels.Count} labels but single-label data needs exactly one");
        }
        return new SourceListing(items, validCol >= 0 ? splits : null, missing, 0, multi);
    }

    /// <summary>Splits one CSV line into cells (RFC 4180 quoting: "a,b" and doubled quotes).</summary>
    internal static string[] ParseLine(string line)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cell.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { cells.Add(cell.ToString()); cell.Clear(); }
            else cell.Append(c);
        }
        cells.Add(cell.ToString());
        return cells.ToArray();
    }
}
