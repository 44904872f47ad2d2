using System.Globalization;
using Lumen.Imaging;
using Lumen.Tasks;

namespace Lumen.Data.Boxes;

/// <summary>
/// What the boxes of a detection dataset look like, for <c>lumen data</c>: how many per image, their
/// sizes relative to their images, and per class.
/// </summary>
/// <param name="BoxesPerImage">Images with 0, 1, 2, 3 and 4 or more boxes.</param>
/// <param name="BoxesPerClass">Boxes of each class, in class order.</param>
/// <param name="RelativeSides">The square root of each box's share of its image's area (0.1: a box with a
/// tenth of the image's side), quantiles 0, 0.1, 0.5, 0.9 and 1.</param>
/// <param name="Format">The format the boxes were read from.</param>
public sealed record BoxSummary(IReadOnlyList<int> BoxesPerImage, IReadOnlyList<int> BoxesPerClass, IReadOnlyList<double> RelativeSides, BoxFormat Format);

/// <summary>
/// Images with boxes (fastai's <c>BBoxBlock</c>/<c>BBoxLblBlock</c>): a folder of images and a boxes
/// file or folder in any <see cref="BoxFormat"/>, matched by relative path, file name or stem. Every
/// box is checked against its image before anything loads: unknown files, boxes inverted, empty or
/// outside the image, a declared size that is not the image's: one error naming each file and box.
/// Images without boxes are negatives.
/// </summary>
public static class DetectionSource
{
    /// <summary>Boxes may overshoot their image by this many pixels (rounding in the tool that drew them); they are clipped.</summary>
    public const float EdgeTolerance = 1;

    /// <summary>Boxes with a side under this many pixels are flagged as degenerate (still used).</summary>
    public const float DegenerateSide = 2;

    /// <summary>Two boxes of one class in one image overlapping this much (IoU) are flagged as duplicates.</summary>
    public const double DuplicateIou = 0.9;

    private const int ProblemsShown = 5;

    /// <summary>
    /// Reads <paramref name="boxes"/> (see <see cref="BoxLabels.Read"/>), matches it with the images below
    /// <paramref name="images"/>, checks every box and returns the items (their labels: the classes of
    /// their boxes) with a <see cref="BoxSummary"/> and warnings (duplicates, degenerate boxes, images
    /// the file leaves out).
    /// </summary>
    /// <exception cref="DataException">Any problem above, all listed (the first few), nothing loaded.</exception>
    public static SourceListing Scan(string images, string boxes, Masks.MaskEncoding? masks = null, int workers = 0)
    {
        if (!Directory.Exists(images)) throw new DataException($"the images folder '{Path.GetFullPath(images)}' does not exist");
        var labels = BoxLabels.Read(boxes, masks);
        string boxesFull = Path.GetFullPath(boxes);
        var files = FolderSource.ImageFiles(images).Where(f => !Path.GetFullPath(f).StartsWith(boxesFull + Path.DirectorySeparatorChar, StringComparison.Ordinal)).ToList();
        if (files.Count == 0) throw new DataException($"no images found in '{Path.GetFullPath(images)}'");

        var problems = new List<string>();
        var lookup = new FileLookup(images, files);
        var entryOf = new Dictionary<string, ImageBoxes>(StringComparer.Ordinal);
        foreach (var entry in labels.Images)
        {
            string? file = lookup.Find(entry.Name, out string? why);
            if (file is null) problems.Add($"{entry.Source}: {why}");
            else if (!entryOf.TryAdd(file, entry)) problems.Add($"{entry.Source}: names {file} again (first in {entryOf[file].Source})");
        }
        Fail(problems, boxes);

        var chosen = labels.ListsEveryImage ? files.Where(entryOf.ContainsKey).ToList() : files;
        var sizes = new (int W, int H)[chosen.Count];
        var sizeErrors = new string?[chosen.Count];
        Parallel.For(0, chosen.Count, new ParallelOptions { MaxDegreeOfParallelism = workers > 0 ? workers : Environment.ProcessorCount }, i =>
        {
            try
            {
                sizes[i] = ImageDecoder.ReadSize(chosen[i]);
            }
            catch (ImageDecodeException e)
            {
                sizeErrors[i] = e.Message;
            }
        });
        problems.AddRange(sizeErrors.OfType<string>());
        Fail(problems, boxes);

        var items = new List<LabelledItem>(chosen.Count);
        var warnings = new List<string>();
        var duplicates = new List<string>();
        var degenerate = new List<string>();
        var sides = new List<double>();
        for (int i = 0; i < chosen.Count; i++)
        {
            var (w, h) = sizes[i];
            entryOf.TryGetValue(chosen[i], out var entry);
            if (entry is not null && ((entry.Width is { } dw && dw != w) || (entry.Height is { } dh && dh != h)))
                problems.Add($"{entry.Source}: declares {entry.Width}x{entry.Height} but {chosen[i]} is {w}x{h}");
            var checkedBoxes = new List<LabelledBox>();
            foreach (var raw in entry?.Boxes ?? Array.Empty<LabelledBox>())
            {
                var box = labels.Format == BoxFormat.Yolo ? raw with { XMin = raw.XMin * w, XMax = raw.XMax * w, YMin = raw.YMin * h, YMax = raw.YMax * h } : raw;
                string where = $"{entry!.Source}: box {box} of {Path.GetFileName(chosen[i])}";
                if (!(box.XMax > box.XMin && box.YMax > box.YMin)) { problems.Add($"{where} is inverted or empty (needs xmin < xmax and ymin < ymax)"); continue; }
                if (box.XMin < -EdgeTolerance || box.YMin < -EdgeTolerance || box.XMax > w + EdgeTolerance || box.YMax > h + EdgeTolerance)
                {
                    problems.Add($"{where} lies outside the {w}x{h} image");
                    continue;
                }
                box = box with { XMin = Math.Max(0, box.XMin), YMin = Math.Max(0, box.YMin), XMax = Math.Min(w, box.XMax), YMax = Math.Min(h, box.YMax) };
                if (box.Width < DegenerateSide || box.Height < DegenerateSide) degenerate.Add($"{Path.GetFileName(chosen[i])} {box}");
                if (checkedBoxes.Any(b => b.Label == box.Label && LabelledBox.Iou(b, box) >= DuplicateIou)) duplicates.Add($"{Path.GetFileName(chosen[i])} {box}");
                checkedBoxes.Add(box);
                sides.Add(Math.Sqrt(box.Area / ((double)w * h)));
            }
            items.Add(new LabelledItem(Path.GetFullPath(chosen[i]), checkedBoxes.Select(b => b.Label).Distinct().Order(StringComparer.Ordinal).ToArray()) { Boxes = new BoxList(w, h, checkedBoxes) });
        }
        Fail(problems, boxes);

        if (labels.ListsEveryImage && chosen.Count < files.Count)
            warnings.Add($"{files.Count - chosen.Count} of {files.Count} images in {images} are not named in {boxes} and are left out (list an image without boxes to use it as a negative)");
        Flag(warnings, duplicates, $"box(es) repeat another box of the same class (IoU ≥ {DuplicateIou.ToString(CultureInfo.InvariantCulture)})");
        Flag(warnings, degenerate, $"box(es) are under {DegenerateSide} pixels wide or high");
        int negatives = items.Count(i => i.Boxes!.Count == 0);
        if (negatives == items.Count) warnings.Add("no image has a box: there is nothing to detect");

        var classes = labels.Classes?.Where(c => items.Any(i => i.Labels.Contains(c))).ToList()
            ?? items.SelectMany(i => i.Labels).Distinct().Order(StringComparer.Ordinal).ToList();
        var perImage = new int[5];
        foreach (var item in items) perImage[Math.Min(4, item.Boxes!.Count)]++;
        sides.Sort();
        return new SourceListing(items, null, Array.Empty<UnreadableFile>(), 0, ImageTask.Detection, warnings)
        {
            Classes = classes,
            Boxes = new BoxSummary(perImage, classes.Select(c => items.Sum(i => i.Boxes!.Boxes.Count(b => b.Label == c))).ToArray(),
                sides.Count == 0 ? Array.Empty<double>() : new[] { 0, 0.1, 0.5, 0.9, 1 }.Select(q => sides[(int)Math.Round(q * (sides.Count - 1))]).ToArray(), labels.Format),
        };
    }

    private static void Flag(List<string> warnings, List<string> found, string what)
    {
        if (found.Count > 0)
            warnings.Add($"{found.Count} {what}: {string.Join("; ", found.Take(ProblemsShown))}{(found.Count > ProblemsShown ? "; …" : "")}");
    }

    private static void Fail(List<string> problems, string boxes)
    {
        if (problems.Count == 0) return;
        string more = problems.Count > ProblemsShown ? $"\n  … and {problems.Count - ProblemsShown} more" : "";
        throw new DataException($"{problems.Count} problem(s) with the boxes in {boxes}; nothing was loaded:\n  {string.Join("\n  ", problems.Take(ProblemsShown))}{more}");
    }

    /// <summary>Finds an image by the name a box file gives it: a relative path, a file name, or a stem.</summary>
    private sealed class FileLookup
    {
        private readonly Dictionary<string, string> _byRelative = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<string>> _byName = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<string>> _byStem = new(StringComparer.Ordinal);
        private readonly string _folder;

        public FileLookup(string folder, IReadOnlyList<string> files)
        {
            _folder = folder;
            foreach (string f in files)
            {
                _byRelative[Path.GetRelativePath(folder, f).Replace('\\', '/')] = f;
                Add(_byName, Path.GetFileName(f), f);
                Add(_byStem, Path.GetFileNameWithoutExtension(f), f);
            }
        }

        private static void Add(Dictionary<string, List<string>> index, string key, string file)
        {
            if (!index.TryGetValue(key, out var list)) index[key] = list = new List<string>();
            list.Add(file);
        }

        public string? Find(string name, out string? why)
        {
            why = null;
            string key = name.Replace('\\', '/').TrimStart('.', '/');
            if (_byRelative.TryGetValue(key, out string? exact)) return exact;
            foreach (var (index, what) in new[] { (_byName, Path.GetFileName(key)), (_byStem, Path.GetFileName(key)) })
            {
                if (!index.TryGetValue(what, out var found)) continue;
                if (found.Count == 1) return found[0];
                why = $"'{name}' matches {found.Count} images ({string.Join(", ", found.Take(3))}); name it by its path relative to {_folder}";
                return null;
            }
            why = $"names '{name}', which is not an image in {Path.GetFullPath(_folder)}";
            return null;
        }
    }
}
