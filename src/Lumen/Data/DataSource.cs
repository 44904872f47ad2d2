using Lumen.Data.Datasets;
using Lumen.Tasks;
using static TorchSharp.torch;

namespace Lumen.Data;

/// <summary>
/// Where labelled images come from, as a host describes it: a folder or a catalogue dataset name
/// (fetched on first use), labelled by class folders, a CSV, or a file-name pattern.
/// </summary>
/// <param name="Folder">A folder of images, or a catalogue name such as kvasir-v2.</param>
public sealed record DataSource(string Folder)
{
    /// <summary>A CSV of labels (file,label[,is_valid]), relative to the folder or absolute.</summary>
    public string? Csv { get; init; }

    /// <summary>Labels from file names: group 1 of this regular expression.</summary>
    public string? LabelRegex { get; init; }

    /// <summary>Force multi-label (true) or single-label (false) CSV data; null decides from the rows.</summary>
    public bool? MultiLabel { get; init; }

    private ImageTask? ForcedTask => MultiLabel switch { true => ImageTask.MultiLabel, false => ImageTask.SingleLabel, null => null };

    /// <summary>
    /// Resolves the folder (downloading a named dataset once) and loads it with the matching
    /// constructor; <paramref name="splitter"/>, when given, replaces the source's own split.
    /// </summary>
    public ImageDataLoaders Load(DataOptions? options = null, Device? device = null, IProgressReporter? progress = null,
        Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null)
    {
        var (folder, datasetPattern) = new DatasetStore().ResolveFolder(Folder, progress);
        return Csv is { } csv ? ImageDataLoaders.FromCsv(folder, csv, options, ForcedTask, device, progress, splitter)
            : (LabelRegex ?? datasetPattern) is { } pattern ? ImageDataLoaders.FromNameRegex(folder, pattern, options, device, progress, splitter)
            : ImageDataLoaders.FromFolder(folder, options, device, progress, splitter: splitter);
    }
}
