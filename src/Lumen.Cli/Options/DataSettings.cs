using System.ComponentModel;
using Lumen.Augment;
using Lumen.Data;
using Spectre.Console.Cli;

namespace Lumen.Cli.Options;

/// <summary>The options every command that reads a dataset shares.</summary>
internal class DataSettings : CommandSettings
{
    [CommandArgument(0, "<folder>")]
    [Description("Folder of images (one sub-folder per class, or train/ and valid/), or a dataset name such as kvasir-v2 (fetched on first use)")]
    public string Folder { get; init; } = "";

    [CommandOption("--csv <FILE>")]
    // Help text is console markup: literal brackets are doubled.
    [Description("CSV of labels (file,label[[,is_valid]]); several labels per row separated by space or ';' make the data multi-label")]
    public string? Csv { get; init; }

    [CommandOption("--label-regex <REGEX>")]
    [Description("Labels from file names: group 1 of this regular expression, e.g. '^(.+)_\\d+\\.jpg$'")]
    public string? LabelRegex { get; init; }

    [CommandOption("--masks <DIR>")]
    [Description("Segmentation: folder of masks named like the images (binary, class indices with --codes, or colours with a class_dict.csv); a folder holding images/ and masks/ is recognised without it")]
    public string? Masks { get; init; }

    [CommandOption("--boxes <PATH>")]
    [Description("Detection: the boxes, as COCO or Kvasir-SEG JSON, a CSV (file,label,xmin,ymin,xmax,ymax), or a folder of VOC .xml, YOLO .txt or masks (each region a box); images are the folder's images/ when it has one")]
    public string? Boxes { get; init; }

    [CommandOption("--codes <FILE>")]
    [Description("Segmentation classes: codes.txt (one name per line, pixel value = line) or class_dict.csv (name,r,g,b); default: found beside the data, else binary")]
    public string? Codes { get; init; }

    [CommandOption("--valid-pct <PCT>")]
    [Description("Fraction of each class held out for validation (default 0.2; 0 trains on every image and reports no validation metrics)")]
    [DefaultValue(0.2)]
    public double ValidPct { get; init; } = 0.2;

    [CommandOption("--seed <SEED>")]
    [Description("Seed for the split, shuffling and augmentation (default 42)")]
    [DefaultValue(42)]
    public int Seed { get; init; } = 42;

    [CommandOption("--size <PIXELS>")]
    [Description("Side of the square images given to the model (default 224; 128 for segmentation, 256 for detection)")]
    public int? Size { get; init; }

    [CommandOption("--resize <METHOD>")]
    [Description("crop (default), squish or pad")]
    [DefaultValue("crop")]
    public string Resize { get; init; } = "crop";

    [CommandOption("--aug <PRESET>")]
    [Description("Augmentation preset: default, endoscopy, boxes (flips, zoom and lighting only; the default with --boxes) or none")]
    public string? Aug { get; init; }

    [CommandOption("--max-rotate <DEGREES>")]
    [Description("Override the preset's maximum rotation (0-360)")]
    public double? MaxRotate { get; init; }

    [CommandOption("--flip-vert")]
    [Description("Also flip vertically (all 8 dihedral symmetries)")]
    public bool FlipVert { get; init; }

    [CommandOption("--bs <N>")]
    [Description("Batch size (default: train, cv and lr-find choose it from the number of training images, 8 to 64; 64 elsewhere)")]
    public int? BatchSize { get; init; }

    /// <summary>
    /// The augmentation preset: --aug, else the task's default: boxes turned with their images become
    /// looser than their objects, so detection keeps to the transforms that keep them tight.
    /// </summary>
    public string AugPreset => Aug ?? (ToDataSource().IsDetection ? "boxes" : "default");

    /// <summary>Where the images come from, as given on the command line.</summary>
    public DataSource ToDataSource() => new(Folder) { Csv = Csv, LabelRegex = LabelRegex, Masks = Masks, Boxes = Boxes, Codes = Codes };

    /// <summary>Resolves the folder (or dataset name) and loads it with <paramref name="options"/>.</summary>
    public ImageDataLoaders Load(DataOptions options, IProgressReporter progress, TorchSharp.torch.Device? device = null) =>
        ToDataSource().Load(options, device, progress);

    /// <summary>The library options these settings describe.</summary>
    public DataOptions ToDataOptions()
    {
        AugmentOptions aug = AugmentOptions.FromPreset(AugPreset);
        if (MaxRotate is { } rotate) aug = aug with { MaxRotate = rotate };
        if (FlipVert) aug = aug with { FlipVert = true };
        var options = new DataOptions
        {
            Item = new ItemTransform(Size ?? ToDataSource().DefaultSize, method: Resize.ToLowerInvariant() switch
            {
                "crop" => ResizeMethod.Crop,
                "squish" => ResizeMethod.Squish,
                "pad" => ResizeMethod.Pad,
                _ => throw new LumenException($"--resize must be crop, squish or pad, got '{Resize}'"),
            }),
            Loader = new LoaderOptions { BatchSize = BatchSize },
            ValidPct = ValidPct,
            Seed = Seed,
            Augment = aug,
        };
        options.Validate();
        return options;
    }
}
