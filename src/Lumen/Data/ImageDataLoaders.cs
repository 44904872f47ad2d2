using Lumen.Imaging;
using Lumen.Tasks;
using static TorchSharp.torch;

namespace Lumen.Data;

/// <summary>
/// The training and validation loaders of one dataset, with its vocabulary and audit: Lumen's
/// <c>ImageDataLoaders.from_folder</c> / <c>from_csv</c>.
/// </summary>
public sealed class ImageDataLoaders
{
    private ImageDataLoaders(string folder, DataOptions options, DataLoader train, DataLoader valid, DataAudit audit, IReadOnlyDictionary<string, string> contentHashes)
    {
        ContentHashes = contentHashes;
        Folder = folder;
        Options = options;
        Train = train;
        Valid = valid;
        Audit = audit;
    }

    /// <summary>The data folder.</summary>
    public string Folder { get; }

    /// <summary>The options the loaders were built with.</summary>
    public DataOptions Options { get; }

    /// <summary>Shuffled, augmented training batches.</summary>
    public DataLoader Train { get; }

    /// <summary>Deterministic, unaugmented validation batches.</summary>
    public DataLoader Valid { get; }

    /// <summary>What was found in the data.</summary>
    public DataAudit Audit { get; }

    /// <summary>Every training and validation image's <see cref="ContentHash"/>, by path.</summary>
    public IReadOnlyDictionary<string, string> ContentHashes { get; }

    /// <summary>The sorted class names.</summary>
    public Vocabulary Vocab => Train.Vocab;

    /// <summary>What the labels mean (one class per image, or several).</summary>
    public ImageTask Task => Train.Task;

    /// <summary>How the items were split ("train/valid given by the source", or the random split's settings).</summary>
    public string SplitDescription { get; private init; } = "";

    /// <summary>
    /// fastai's <c>from_folder</c>: labels are the names of the folders holding the images; when the
    /// folder has <paramref name="trainFolder"/> and <paramref name="validFolder"/> sub-folders they are
    /// the split, otherwise a seeded, stratified random split (<see cref="DataOptions.ValidPct"/>).
    /// A <paramref name="splitter"/> (such as a cross-validation fold) replaces either.
    /// </summary>
    /// <exception cref="DataException">The folder is missing or empty, nothing is readable, there are
    /// fewer than two classes, or a split is empty.</exception>
    public static ImageDataLoaders FromFolder(string folder, DataOptions? options = null, Device? device = null, IProgressReporter? progress = null,
        string trainFolder = "train", string validFolder = "valid", Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null) =>
        FromListing(FolderSource.Scan(folder, trainFolder, validFolder), folder, options, device, progress,
            $"no images found in '{Path.GetFullPath(folder)}' (expected one sub-folder per class holding .jpg/.png/.bmp/.webp/.gif files)", splitter);

    /// <summary>
    /// fastai's <c>from_csv</c>: a header, then rows of image path (relative to <paramref name="folder"/>)
    /// and label(s); several labels per cell (space or ';') make multi-label data, unless
    /// <paramref name="task"/> says otherwise; an <c>is_valid</c> column fixes the split unless
    /// a <paramref name="splitter"/> is given.
    /// </summary>
    public static ImageDataLoaders FromCsv(string folder, string csvPath, DataOptions? options = null, ImageTask? task = null, Device? device = null,
        IProgressReporter? progress = null, Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null) =>
        FromListing(CsvSource.Read(csvPath, folder, task), folder, options, device, progress, $"none of the files listed in '{csvPath}' exist under '{Path.GetFullPath(folder)}'", splitter);

    /// <summary>
    /// fastai's <c>SegmentationDataLoaders</c>: every image below <paramref name="images"/> with the mask
    /// of the same stem in <paramref name="masks"/> (see <see cref="Masks.SegmentationSource"/>); the
    /// classes come from <paramref name="codes"/> (codes.txt or a class_dict.csv colour map), from such a
    /// file beside the data, or are background and foreground for binary masks. Split by
    /// <paramref name="splitter"/> or the options' seeded random split.
    /// </summary>
    /// <exception cref="DataException">A mask is missing, extra, unreadable, of the wrong size or holds an unknown class (all listed; nothing loads).</exception>
    public static ImageDataLoaders FromMasks(string images, string masks, string? codes = null, DataOptions? options = null, Device? device = null,
        IProgressReporter? progress = null, Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null)
    {
        var encoding = Masks.SegmentationSource.FindEncoding(Path.GetDirectoryName(Path.GetFullPath(images)) ?? images, masks, codes);
        var listing = Masks.SegmentationSource.Scan(images, masks, encoding, (options ?? new DataOptions()).Loader.Workers);
        string folder = Path.GetDirectoryName(Path.GetFullPath(images).TrimEnd(Path.DirectorySeparatorChar)) ?? images;
        return FromListing(listing, folder, options, device, progress, $"no images found in '{Path.GetFullPath(images)}'", splitter);
    }

    /// <summary>
    /// Images with boxes (fastai's <c>BBoxBlock</c> with <c>BBoxLblBlock</c>): every image below
    /// <paramref name="images"/> with the boxes <paramref name="boxes"/> gives it, in any
    /// <see cref="Boxes.BoxFormat"/> (see <see cref="Boxes.DetectionSource"/>); images without boxes are
    /// negatives. <paramref name="codes"/> names the classes of a masks folder read as boxes. Split by
    /// <paramref name="splitter"/> or the options' seeded random split.
    /// </summary>
    /// <exception cref="DataException">A box file is malformed, names an unknown image, or a box is inverted, empty or outside its image (all listed; nothing loads).</exception>
    public static ImageDataLoaders FromBoxes(string images, string boxes, string? codes = null, DataOptions? options = null, Device? device = null,
        IProgressReporter? progress = null, Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null)
    {
        var masks = Directory.Exists(boxes) ? Masks.SegmentationSource.FindEncoding(Path.GetDirectoryName(Path.GetFullPath(images)) ?? images, boxes, codes) : null;
        var listing = Boxes.DetectionSource.Scan(images, boxes, masks, (options ?? new DataOptions()).Loader.Workers);
        return FromListing(listing, images, options, device, progress, $"no images found in '{Path.GetFullPath(images)}'", splitter);
    }

    /// <summary>
    /// fastai's <c>from_name_re</c>: every image below <paramref name="folder"/> whose file name matches
    /// <paramref name="pattern"/> gets group 1 as its label; split by <paramref name="splitter"/> or the
    /// options' seeded random split.
    /// </summary>
    public static ImageDataLoaders FromNameRegex(string folder, string pattern, DataOptions? options = null, Device? device = null, IProgressReporter? progress = null,
        Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null) =>
        FromListing(FolderSource.ScanFileNames(folder, pattern), folder, options, device, progress, $"no file name below '{Path.GetFullPath(folder)}' matches '{pattern}'", splitter);

    /// <summary>
    /// fastai's <c>from_name_func</c>: every image below <paramref name="folder"/> is labelled by
    /// <paramref name="label"/> applied to its file name (e.g. "cat" when the name starts upper-case).
    /// </summary>
    public static ImageDataLoaders FromNameFunc(string folder, Func<string, string> label, DataOptions? options = null, Device? device = null, IProgressReporter? progress = null) =>
        FromListing(FolderSource.ScanNames(folder, label), folder, options, device, progress, $"no image below '{Path.GetFullPath(folder)}' got a label");

    /// <summary>fastai's <c>from_lists</c>: image paths and their labels, side by side.</summary>
    public static ImageDataLoaders FromLists(IReadOnlyList<string> paths, IReadOnlyList<string> labels, DataOptions? options = null, Device? device = null,
        IProgressReporter? progress = null)
    {
        if (paths.Count != labels.Count) throw new DataException($"{paths.Count} paths but {labels.Count} labels: the lists must be parallel");
        return FromItems(paths.Select((p, i) => new LabelledItem(Path.GetFullPath(p), labels[i])).ToList(), options: options, device: device, progress: progress);
    }

    /// <summary>
    /// The data block under every other constructor: labelled items, a splitter (default: seeded,
    /// stratified random with <see cref="DataOptions.ValidPct"/> and <see cref="DataOptions.Seed"/>),
    /// and the options. Every file is checked (unreadable ones are listed in the audit and skipped).
    /// </summary>
    /// <param name="items">Images and their labels.</param>
    /// <param name="splitter">Gives each readable item its split (see <see cref="Splitter"/>).</param>
    /// <param name="options">Item transform, augmentation, loader and normalisation settings.</param>
    /// <param name="device">Where batches go (default CPU).</param>
    /// <param name="progress">Receives the check's progress and the audit's warnings.</param>
    /// <param name="task">What the labels mean; null decides from the items: <see cref="ImageTask.MultiLabel"/> when any
    /// has other than one label, else <see cref="ImageTask.SingleLabel"/>.</param>
    /// <param name="folder">The folder the items come from (reports and fingerprints); default: their common folder.</param>
    public static ImageDataLoaders FromItems(IReadOnlyList<LabelledItem> items, Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null,
        DataOptions? options = null, Device? device = null, IProgressReporter? progress = null, ImageTask? task = null, string? folder = null)
    {
        folder ??= CommonFolder(items);
        task ??= items.Any(i => i.Labels.Count != 1) ? ImageTask.MultiLabel : ImageTask.SingleLabel;
        return FromListing(new SourceListing(items, null, Array.Empty<UnreadableFile>(), 0, task), folder, options, device, progress,
            $"no items were given for '{folder}'", splitter);
    }

    private static ImageDataLoaders FromListing(SourceListing listing, string folder, DataOptions? options, Device? device, IProgressReporter? progress, string whenEmpty,
        Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null)
    {
        options ??= new DataOptions();
        options.Validate();
        progress ??= NullProgress.Instance;
        folder = Path.GetFullPath(folder);
        if (listing.Items.Count == 0) throw new DataException(whenEmpty);

        var (readable, hashes, unreadable) = DataAudit.CheckFiles(listing.Items, options.Item.SourceShortSide, options.Loader.Workers, progress);
        unreadable.InsertRange(0, listing.Missing);
        if (readable.Count == 0)
            throw new DataException($"none of the {listing.Items.Count} images in '{folder}' could be read; first problem: {unreadable[0].Path}: {unreadable[0].Reason}");

        var items = readable.Select(i => listing.Items[i]).ToList();
        var itemHashes = readable.Select(i => hashes[i]).ToList();
        var vocab = listing.Classes is { } classes ? Vocabulary.InOrder(classes) : new Vocabulary(items.SelectMany(i => i.Labels));
        if (vocab.Count < (listing.Task.PerBox ? 1 : 2))
            throw new DataException(vocab.Count == 0
                ? $"no labels found in '{folder}'"
                : $"only one class ('{vocab.Classes[0]}') found in '{folder}'; a classifier needs at least 2 (one sub-folder per class)");

        var fixedSplit = splitter is null ? listing.FixedSplit : null;
        var splits = fixedSplit is not null ? readable.Select(i => fixedSplit[i]).ToArray()
            : (splitter ?? Splitter.Random(options.ValidPct, options.Seed))(items);
        string description = fixedSplit is not null ? "given by the source (train/valid folders or an is_valid column)"
            : splitter is not null ? "by the given splitter" : $"seeded random, stratified, valid-pct {options.ValidPct}, seed {options.Seed}";
        var trainItems = items.Where((_, i) => splits[i] == Split.Train).ToList();
        var validItems = items.Where((_, i) => splits[i] == Split.Valid).ToList();
        if (trainItems.Count == 0) throw new DataException($"the training split of '{folder}' is empty");
        bool noValidationAsked = fixedSplit is null && splitter is null && options.ValidPct == 0;
        if (validItems.Count == 0 && !noValidationAsked)
            throw new DataException(fixedSplit is null && splitter is null
                ? $"the validation split of '{folder}' is empty: too few images for a validation fraction of {options.ValidPct}"
                : $"the validation split of '{folder}' is empty (split {description})");

        var audit = DataAudit.Build(items, splits, itemHashes, vocab, unreadable, listing.IgnoredFiles, listing.Warnings) with { ClassPixelShares = listing.ClassPixelShares, Boxes = listing.Boxes };
        foreach (string warning in audit.Warnings) progress.Warn(warning);

        device ??= CPU;
        var train = new DataLoader(trainItems, vocab, listing.Task, options, training: true, device);
        var valid = new DataLoader(validItems, vocab, listing.Task, options, training: false, device);
        var contentHashes = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < items.Count; i++) contentHashes[items[i].Path] = itemHashes[i];
        return new ImageDataLoaders(folder, options, train, valid, audit, contentHashes) { SplitDescription = description };
    }

    private static string CommonFolder(IReadOnlyList<LabelledItem> items)
    {
        if (items.Count == 0) return Directory.GetCurrentDirectory();
        string common = Path.GetDirectoryName(Path.GetFullPath(items[0].Path)) ?? "/";
        foreach (var item in items.Skip(1))
        {
            string path = Path.GetFullPath(item.Path);
            while (!path.StartsWith(common.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                common = Path.GetDirectoryName(common) ?? "/";
        }
        return common;
    }

    /// <summary>
    /// The same data with another input normalisation (the one a model's pretrained weights expect,
    /// as fastai adds automatically); items, split and audit are shared, nothing is re-read.
    /// </summary>
    public ImageDataLoaders WithNormalization(Normalization normalization) =>
        ReferenceEquals(normalization, Options.Normalization) ? this : With(Options with { Normalization = normalization });

    /// <summary>
    /// The same data with other loader settings (batch size, workers, prefetch, caching); items, split
    /// and audit are shared, nothing is re-read.
    /// </summary>
    public ImageDataLoaders WithLoader(LoaderOptions loader)
    {
        loader.Validate();
        return loader == Options.Loader ? this : With(Options with { Loader = loader });
    }

    /// <summary>
    /// The same items and split with other options (size, seed, augmentation, loader): nothing is
    /// re-read or re-checked, so runs that differ only in these (ensemble members) share one load.
    /// </summary>
    public ImageDataLoaders WithOptions(DataOptions options)
    {
        options.Validate();
        return options == Options ? this : With(options);
    }

    private ImageDataLoaders With(DataOptions options) =>
        new(Folder, options, Train.With(options), Valid.With(options), Audit, ContentHashes) { SplitDescription = SplitDescription };

    /// <summary>The same data with another training loader (e.g. one that oversamples).</summary>
    public ImageDataLoaders WithTrain(DataLoader train) => new(Folder, Options, train, Valid, Audit, ContentHashes) { SplitDescription = SplitDescription };

    /// <summary>
    /// A grid of the first <paramref name="count"/> images of a batch as the model sees them (after
    /// augmentation for the training loader), captioned with their labels, or with their masks drawn
    /// over them for a segmentation, or with their boxes for a detection: fastai's <c>show_batch</c>.
    /// </summary>
    public RgbImage ShowBatch(int count = 16, bool training = true, int epoch = 0, int cellSize = 160)
    {
        if (count < 1) throw new OptionException(OptionName.Count, $"must be at least 1, got {count}");
        DataLoader loader = training ? Train : Valid;
        var cells = new List<GridCell>();
        foreach (Batch batch in loader.Batches(epoch))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                Tensor shown = loader.Normalization.Denormalize(batch.Images);
                for (int i = 0; i < batch.Count && cells.Count < count; i++)
                {
                    RgbImage image = ImageTensor.ToImage(shown[i]);
                    // Masks are drawn over their images, as augmented together.
                    if (loader.HasMasks) image = Masks.MaskTensor.ToMask(batch.Targets[i]).Overlay(image);
                    // Boxes are drawn where the augmentation put them.
                    if (loader.HasBoxes) image = BoxDrawing.Draw(image, Boxes.BoxTargets.Read(batch.Targets[i].unsqueeze(0))[0]
                        .Select(b => new DrawnBox(b.XMin, b.YMin, b.XMax, b.YMax, Vocab.Classes.Count > 1 ? Vocab.Classes[b.Class] : "", b.Class)).ToList());
                    cells.Add(new GridCell(image, loader.HasMasks || loader.HasBoxes ? Path.GetFileNameWithoutExtension(batch.Items[i].Path) : batch.Items[i].LabelText));
                }
            }
            if (cells.Count >= count) break;
        }
        string title = $"{(training ? "training" : "validation")} batch · {Options.Item.Size}px · {string.Join(", ", Vocab.Classes)}";
        return ImageGrid.Render(cells, cellSize, title: title);
    }
}
