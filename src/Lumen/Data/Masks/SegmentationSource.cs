using Lumen.Imaging;
using Lumen.Tasks;

namespace Lumen.Data.Masks;

/// <summary>
/// Images with segmentation masks (fastai's <c>SegmentationDataLoaders</c>): a folder of images and a
/// folder of masks with the same file stems (optionally with a suffix such as <c>_mask</c> or CamVid's
/// <c>_P</c>), read as binary masks, class-index masks with a codes file, or colour masks with a colour
/// map. Every pair is checked before anything loads: an image without a mask, a mask without an
/// image, a mask of another size than its image, an unknown class or colour is an error naming the file.
/// </summary>
public static class SegmentationSource
{
    /// <summary>Sub-folder names that hold the images in a recognised layout.</summary>
    public static IReadOnlyList<string> ImageFolderNames { get; } = new[] { "images", "imgs" };

    /// <summary>Sub-folder names that hold the masks in a recognised layout.</summary>
    public static IReadOnlyList<string> MaskFolderNames { get; } = new[] { "masks", "labels" };

    /// <summary>Suffixes a mask's stem may add to its image's stem, tried in this order.</summary>
    public static IReadOnlyList<string> MaskSuffixes { get; } = new[] { "", "_mask", "_P", "_label", "_gt" };

    /// <summary>Most problems listed in one error.</summary>
    private const int ProblemsShown = 5;

    /// <summary>
    /// The images and masks folders of <paramref name="folder"/> when it is laid out for segmentation
    /// (an <c>images/</c> and a <c>masks/</c> or <c>labels/</c> sub-folder, as Kvasir-SEG ships), else null.
    /// </summary>
    public static (string Images, string Masks)? RecogniseLayout(string folder)
    {
        string? images = ImageFolderNames.Select(n => Path.Combine(folder, n)).FirstOrDefault(Directory.Exists);
        string? masks = MaskFolderNames.Select(n => Path.Combine(folder, n)).FirstOrDefault(Directory.Exists);
        return images is null || masks is null ? null : (images, masks);
    }

    /// <summary>
    /// The mask encoding for a dataset: <paramref name="codes"/> when given (a <c>.csv</c> is a colour
    /// map, anything else a codes file), else a <c>codes.txt</c> or <c>class_dict.csv</c> in
    /// <paramref name="folder"/> or <paramref name="masks"/>, else binary masks.
    /// </summary>
    public static MaskEncoding FindEncoding(string folder, string masks, string? codes = null)
    {
        if (codes is not null)
        {
            if (!File.Exists(codes)) throw new OptionException(OptionName.Codes, $"'{codes}' does not exist (expected codes.txt, one class per line, or class_dict.csv: name,r,g,b)");
            return Read(codes);
        }
        foreach (string place in new[] { folder, masks })
            foreach (string name in new[] { "codes.txt", "class_dict.csv" })
                if (File.Exists(Path.Combine(place, name))) return Read(Path.Combine(place, name));
        return MaskEncoding.Binary();

        static MaskEncoding Read(string path) => Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase)
            ? MaskEncoding.FromColourMapFile(path) : MaskEncoding.FromCodesFile(path);
    }

    /// <summary>
    /// Pairs every image below <paramref name="images"/> with its mask in <paramref name="masks"/>,
    /// reads every mask (in parallel) and checks it. Each item's labels are the classes its mask
    /// holds (so splits stratify by them); the listing carries each class's share of the pixels.
    /// </summary>
    /// <exception cref="DataException">A folder is missing or empty, an image has no mask, a mask has no
    /// image, or a mask is unreadable, of another size than its image, or holds an unknown class; all
    /// such problems are listed (the first few), nothing is loaded.</exception>
    public static SourceListing Scan(string images, string masks, MaskEncoding encoding, int workers = 0)
    {
        foreach (var (folder, what) in new[] { (images, "images"), (masks, "masks") })
            if (!Directory.Exists(folder)) throw new DataException($"the {what} folder '{Path.GetFullPath(folder)}' does not exist");
        // A masks folder inside the images folder (the images at the dataset's root) holds no images.
        var imageFiles = FolderSource.ImageFiles(images).Where(f => !IsInside(f, masks)).ToList();
        var maskFiles = FolderSource.ImageFiles(masks);
        if (imageFiles.Count == 0) throw new DataException($"no images found in '{Path.GetFullPath(images)}'");
        var masksByStem = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string mask in maskFiles) masksByStem.TryAdd(Path.GetFileNameWithoutExtension(mask), mask);

        var problems = new List<string>();
        var paired = new string?[imageFiles.Count];
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < imageFiles.Count; i++)
        {
            string stem = Path.GetFileNameWithoutExtension(imageFiles[i]);
            paired[i] = MaskSuffixes.Select(s => masksByStem.GetValueOrDefault(stem + s)).FirstOrDefault(m => m is not null);
            if (paired[i] is null) problems.Add($"{imageFiles[i]}: no mask named {stem}.* in {masks}");
            else used.Add(paired[i]!);
        }
        problems.AddRange(maskFiles.Where(m => !used.Contains(m)).Select(m => $"{m}: a mask without an image in {images}"));
        Fail(problems, imageFiles.Count);

        int classes = encoding.Classes.Count;
        var counts = new long[imageFiles.Count][];
        var errors = new string?[imageFiles.Count];
        Parallel.For(0, imageFiles.Count, new ParallelOptions { MaxDegreeOfParallelism = workers > 0 ? workers : Environment.ProcessorCount }, i =>
        {
            try
            {
                var (w, h) = ImageDecoder.ReadSize(imageFiles[i]);
                ClassMask mask = new MaskFile(paired[i]!, encoding).Read();
                if (mask.Width != w || mask.Height != h)
                    errors[i] = $"{paired[i]}: the mask is {mask.Width}x{mask.Height} but its image {imageFiles[i]} is {w}x{h}";
                else counts[i] = mask.PixelCounts(classes);
            }
            catch (ImageDecodeException e)
            {
                errors[i] = e.Message;
            }
            catch (DataException e)
            {
                errors[i] = e.Message;
            }
        });
        Fail(errors.OfType<string>().ToList(), imageFiles.Count);

        var items = imageFiles.Select((f, i) => new LabelledItem(Path.GetFullPath(f),
            encoding.Classes.Where((_, c) => counts[i][c] > 0).ToArray()) { Mask = new MaskFile(Path.GetFullPath(paired[i]!), encoding) }).ToList();
        var totals = new long[classes];
        foreach (var c in counts) for (int k = 0; k < classes; k++) totals[k] += c[k];
        double all = totals.Sum();
        var warnings = new List<string>();
        Flag(warnings, items, counts, c => c[0] == c.Sum(), $"hold only the background ({encoding.Classes[0]})");
        Flag(warnings, items, counts, c => c[0] == 0, $"hold no background ({encoding.Classes[0]}) at all");
        return new SourceListing(items, null, Array.Empty<UnreadableFile>(), 0, ImageTask.Segmentation, warnings)
        {
            Classes = encoding.Classes,
            ClassPixelShares = totals.Select(t => t / all).ToArray(),
        };
    }

    private static void Flag(List<string> warnings, List<LabelledItem> items, long[][] counts, Func<long[], bool> test, string what)
    {
        var flagged = items.Where((_, i) => test(counts[i])).Select(i => Path.GetFileName(i.Mask!.Path)).ToList();
        if (flagged.Count > 0)
            warnings.Add($"{flagged.Count} of {items.Count} masks {what}: {string.Join(", ", flagged.Take(ProblemsShown))}{(flagged.Count > ProblemsShown ? ", …" : "")}");
    }

    private static void Fail(List<string> problems, int images)
    {
        if (problems.Count == 0) return;
        string more = problems.Count > ProblemsShown ? $"\n  … and {problems.Count - ProblemsShown} more" : "";
        throw new DataException($"{problems.Count} problem(s) with the masks of {images} images; nothing was loaded:\n  {string.Join("\n  ", problems.Take(ProblemsShown))}{more}");
    }

    private static bool IsInside(string path, string folder)
    {
        string root = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        return Path.GetFullPath(path).StartsWith(root, StringComparison.Ordinal);
    }
}
