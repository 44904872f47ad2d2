using Lumen.Data.Datasets;
using Lumen.Data.Masks;
using Lumen.Tasks;
using static TorchSharp.torch;

namespace Lumen.Data;

/// <summary>
/// Where labelled images come from, as a host describes it: a folder or a catalogue dataset name
/// (fetched on first use), labelled by class folders, a CSV, a file-name pattern, or masks (a masks
/// folder, or a folder laid out as <c>images/</c> and <c>masks/</c>, which is recognised).
/// </summary>
/// <param name="Folder">A folder of images, or a catalogue name such as kvasir-v2.</param>
public sealed record DataSource(string Folder)
{
    /// <summary>A CSV of labels (file,label[,is_valid]), relative to the folder or absolute.</summary>
    public string? Csv { get; init; }

    /// <summary>Labels from file names: group 1 of this regular expression.</summary>
    public string? LabelRegex { get; init; }

    /// <summary>A folder of segmentation masks with the images' stems; the images are the folder's <c>images/</c> when it has one, else the folder.</summary>
    public string? Masks { get; init; }

    /// <summary>
    /// The boxes of a detection: a COCO or Kvasir-SEG .json, a .csv (file,label,xmin,ymin,xmax,ymax), or a
    /// folder of VOC .xml, YOLO .txt or masks (a relative path that does not exist may name one inside the
    /// data's folder); the images are the folder's <c>images/</c> when it has one, else the folder.
    /// </summary>
    public string? Boxes { get; init; }

    /// <summary>The segmentation's classes: a codes file (one per line) or a class_dict.csv colour map; null looks for either beside the data, else binary masks.</summary>
    public string? Codes { get; init; }

    /// <summary>Force multi-label (true) or single-label (false) CSV data; null decides from the rows.</summary>
    public bool? MultiLabel { get; init; }

    /// <summary>The side a classifier sees unless told otherwise (fastai's usual 224).</summary>
    public const int ClassificationSize = 224;

    /// <summary>
    /// The side a segmentation sees unless told otherwise: a U-Net decodes back to every input pixel,
    /// about five times a ResNet-18 classifier's work at the same size, so 128 px keeps the default
    /// run on the 708 Kvasir-SEG development images within half an hour on two cores.
    /// </summary>
    public const int SegmentationSize = 128;

    /// <summary>
    /// The side a detector sees unless told otherwise: the feature pyramid's finest level is an eighth of
    /// it, so at 256 px a polyp a tenth of the frame wide spans three locations; a ResNet-18 detector trains
    /// at about 5 images/s at this size on two cores, so the default run on the 566 training images of the
    /// Kvasir-SEG development set fits in half an hour (docs/detection.md).
    /// </summary>
    public const int DetectionSize = 256;

    /// <summary>
    /// True when the source is a segmentation: masks are given, or the folder is laid out as
    /// <c>images/</c> and <c>masks/</c> and no other labelling is asked for.
    /// </summary>
    public bool IsSegmentation => Boxes is null && (Masks is not null || (Csv is null && LabelRegex is null
        && (Directory.Exists(Folder) ? SegmentationSource.RecogniseLayout(Folder) is not null : DatasetCatalog.Find(Folder)?.Layout == DatasetLayout.ImagesAndMasks)));

    /// <summary>True when the source is a detection: boxes are given.</summary>
    public bool IsDetection => Boxes is not null;

    /// <summary>The image side to use when none is given: <see cref="DetectionSize"/>, <see cref="SegmentationSize"/> or <see cref="ClassificationSize"/>.</summary>
    public int DefaultSize => IsDetection ? DetectionSize : IsSegmentation ? SegmentationSize : ClassificationSize;

    private ImageTask? ForcedTask => MultiLabel switch { true => ImageTask.MultiLabel, false => ImageTask.SingleLabel, null => null };

    /// <summary>
    /// Resolves the folder (downloading a named dataset once) and loads it with the matching
    /// constructor; <paramref name="splitter"/>, when given, replaces the source's own split.
    /// </summary>
    public ImageDataLoaders Load(DataOptions? options = null, Device? device = null, IProgressReporter? progress = null,
        Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? splitter = null)
    {
        var (folder, datasetPattern) = new DatasetStore().ResolveFolder(Folder, progress);
        var layout = SegmentationSource.RecogniseLayout(folder);
        if (Boxes is { } given)
        {
            // A relative path that does not exist here may name a file of the dataset (kvasir-seg's kavsir_bboxes.json).
            string boxes = !Path.IsPathRooted(given) && !File.Exists(given) && !Directory.Exists(given) && Path.Combine(folder, given) is var inData
                && (File.Exists(inData) || Directory.Exists(inData)) ? inData : given;
            string images = SegmentationSource.ImageFolderNames.Select(n => Path.Combine(folder, n)).FirstOrDefault(Directory.Exists) ?? folder;
            return ImageDataLoaders.FromBoxes(images, boxes, Codes, options, device, progress, splitter);
        }
        if (Masks is { } masks) return ImageDataLoaders.FromMasks(layout?.Images ?? folder, masks, Codes, options, device, progress, splitter);
        if (Csv is null && LabelRegex is null && layout is { } found) return ImageDataLoaders.FromMasks(found.Images, found.Masks, Codes, options, device, progress, splitter);
        return Csv is { } csv ? ImageDataLoaders.FromCsv(folder, csv, options, ForcedTask, device, progress, splitter)
            : (LabelRegex ?? datasetPattern) is { } pattern ? ImageDataLoaders.FromNameRegex(folder, pattern, options, device, progress, splitter)
            : ImageDataLoaders.FromFolder(folder, options, device, progress, splitter: splitter);
    }
}
