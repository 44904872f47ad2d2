using Lumen.Imaging;
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

    /// <summary>True when items can carry several labels.</summary>
    public bool MultiLabel => Train.MultiLabel;

    /// <summary>
    /// Loads a folder: labels from a CSV when <see cref="DataOptions.CsvPath"/> is set, from file names
    /// when <see cref="DataOptions.LabelRegex"/> is set, otherwise from class folders. Every file is checked (unreadable ones are listed in the audit and skipped),
    /// then split: by train/valid folders or an is_valid column when present, else at random,
    /// stratified, with <see cref="DataOptions.ValidPct"/> and <see cref="DataOptions.Seed"/>.
    /// </summary>
    /// <exception cref="DataException">The folder is missing or empty, nothing is readable, there are
    /// fewer than two classes, or a split is empty.</exception>
    public static ImageDataLoaders FromFolder(string folder, DataOptions? options = null, Device? device = null, IProgressReporter? progress = null)
    {
        options ??= new DataOptions();
        options.Validate();
        progress ??= NullProgress.Instance;
        folder = Path.GetFullPath(folder);
        SourceListing listing = options.CsvPath is { } csv ? CsvSource.Read(csv, folder, options.MultiLabel)
            : options.LabelRegex is { } regex ? FolderSource.ScanFileNames(folder, regex)
            : FolderSource.Scan(folder, options.TrainFolder, options.ValidFolder);
        if (listing.Items.Count == 0)
            throw new DataException(options.CsvPath is null
                ? $"no images found in '{folder}' (expected one sub-folder per class holding .jpg/.png/.bmp/.webp/.gif files)"
                : $"none of the files listed in '{options.CsvPath}' exist under '{folder}'");

        var (readable, hashes, unreadable) = DataAudit.CheckFiles(listing.Items, options.ItemTransform.SourceShortSide, options.Workers, progress);
        unreadable.InsertRange(0, listing.Missing);
        if (readable.Count == 0)
            throw new DataException($"none of the {listing.Items.Count} images in '{folder}' could be read; first problem: {unreadable[0].Path}: {unreadable[0].Reason}");

        var items = readable.Select(i => listing.Items[i]).ToList();
        var itemHashes = readable.Select(i => hashes[i]).ToList();
        var vocab = new Vocabulary(items.SelectMany(i => i.Labels));
        if (vocab.Count < 2)
            throw new DataException(vocab.Count == 0
                ? $"no labels found in '{folder}'"
                : $"only one class ('{vocab.Classes[0]}') found in '{folder}'; a classifier needs at least 2 (one sub-folder per class)");

        Split[] splits = listing.FixedSplit is { } fixedSplit
            ? readable.Select(i => fixedSplit[i]).ToArray()
            : Splitter.Stratified(items, options.ValidPct, options.Seed);
        var trainItems = items.Where((_, i) => splits[i] == Split.Train).ToList();
        var validItems = items.Where((_, i) => splits[i] == Split.Valid).ToList();
        if (trainItems.Count == 0) throw new DataException($"the training split of '{folder}' is empty");
        if (validItems.Count == 0)
            throw new DataException(listing.FixedSplit is null
                ? $"the validation split of '{folder}' is empty: too few images for a validation fraction of {options.ValidPct}"
                : $"the validation split of '{folder}' is empty ('{options.ValidFolder}' folder or is_valid column has no readable images)");

        var audit = DataAudit.Build(items, splits, itemHashes, vocab, unreadable, listing.IgnoredFiles, listing.Warnings);
        foreach (string warning in audit.Warnings) progress.Warn(warning);

        device ??= CPU;
        var train = new DataLoader(trainItems, vocab, listing.MultiLabel, options, training: true, device);
        var valid = new DataLoader(validItems, vocab, listing.MultiLabel, options, training: false, device);
        var contentHashes = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < items.Count; i++) contentHashes[items[i].Path] = itemHashes[i];
        return new ImageDataLoaders(folder, options, train, valid, audit, contentHashes);
    }

    /// <summary>
    /// The same data with another input normalisation (the one a model's pretrained weights expect,
    /// as fastai adds automatically); items, split and audit are shared, nothing is re-read.
    /// </summary>
    public ImageDataLoaders WithNormalization(Normalization normalization)
    {
        if (ReferenceEquals(normalization, Options.Normalization)) return this;
        var options = Options with { Normalization = normalization };
        return new ImageDataLoaders(Folder, options, Train.With(options), Valid.With(options), Audit, ContentHashes);
    }

    /// <summary>The same data with another training loader (e.g. one that oversamples).</summary>
    public ImageDataLoaders WithTrain(DataLoader train) => new(Folder, Options, train, Valid, Audit, ContentHashes);

    /// <summary>
    /// A grid of the first <paramref name="count"/> images of a batch as the model sees them (after
    /// augmentation for the training loader), captioned with their labels: fastai's <c>show_batch</c>.
    /// </summary>
    public RgbImage ShowBatch(int count = 16, bool training = true, int epoch = 0, int cellSize = 160)
    {
        if (count < 1) throw new OptionException("Count", $"must be at least 1, got {count}");
        DataLoader loader = training ? Train : Valid;
        var cells = new List<GridCell>();
        foreach (Batch batch in loader.Batches(epoch))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                Tensor shown = loader.Normalization.Denormalize(batch.Images);
                for (int i = 0; i < batch.Count && cells.Count < count; i++)
                    cells.Add(new GridCell(ImageTensor.ToImage(shown[i]), batch.Items[i].LabelText));
            }
            if (cells.Count >= count) break;
        }
        string title = $"{(training ? "training" : "validation")} batch · {Options.Size}px · {string.Join(", ", Vocab.Classes)}";
        return ImageGrid.Render(cells, cellSize, title: title);
    }
}
