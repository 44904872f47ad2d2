using Lumen.Imaging;
using Lumen.Tasks;

namespace Lumen.Data;

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
            return new SourceListing(t.Items.Concat(v.Items).ToArray(), splits, t.Walk.Broken.Concat(v.Walk.Broken).ToList(), t.Ignored + v.Ignored, ImageTask.SingleLabel,
                t.Walk.Warnings.Concat(v.Walk.Warnings).ToList());
        }
        var all = ScanTree(root);
        return new SourceListing(all.Items, null, all.Walk.Broken, all.Ignored, ImageTask.SingleLabel, all.Walk.Warnings);
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
            throw new OptionException(OptionName.LabelRegex, $"'{pattern}' is not a valid regular expression: {e.Message}");
        }
        if (regex.GetGroupNumbers().Length < 2) throw new OptionException(OptionName.LabelRegex, $"'{pattern}' needs a capture group, e.g. '^(.+)_\\d+\\.jpg$'");
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
        return new SourceListing(items, null, walk.Broken, ignored, ImageTask.SingleLabel, walk.Warnings);
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
