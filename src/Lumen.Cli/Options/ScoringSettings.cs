using System.ComponentModel;
using Lumen.Data;
using Lumen.Inference;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;

namespace Lumen.Cli.Options;

/// <summary>The options of commands that score a model on a labelled folder (evaluate, interpret).</summary>
internal class ScoringSettings : ModelSettings
{
    [CommandArgument(1, "<folder>")]
    [Description("Labelled images: one sub-folder per class")]
    public string Folder { get; init; } = "";

    [CommandOption("--csv <FILE>")]
    [Description("Labels from a CSV instead of folders")]
    public string? Csv { get; init; }

    [CommandOption("--masks <DIR>")]
    [Description("Segmentation models: the masks of the images (default: the folder's masks/, beside images/)")]
    public string? Masks { get; init; }

    [CommandOption("--boxes <PATH>")]
    [Description("Detection models: the images' true boxes (COCO or Kvasir-SEG JSON, a CSV, or a folder of VOC, YOLO or masks)")]
    public string? Boxes { get; init; }

    [CommandOption("--codes <FILE>")]
    [Description("Segmentation models: the masks' classes (codes.txt or class_dict.csv; default: found beside the data)")]
    public string? Codes { get; init; }

    [CommandOption("--split <WHICH>")]
    [Description("Which images to score: all (default), valid (only those the model was validated on) or unseen (all it was not trained on)")]
    [DefaultValue("all")]
    public string Split { get; init; } = "all";

    [CommandOption("--tta <N>")]
    [Description("Average the predictions over N test-time-augmentation passes (0 = off)")]
    [DefaultValue(0)]
    public int Tta { get; init; }

    /// <summary>The labelled images chosen by --split; warns when scored images were trained on.</summary>
    public ScoredImages Select(Predictor predictor)
    {
        if (Tta < 0) throw new LumenException($"--tta must be 0 or more, got {Tta}");
        var split = Split.ToLowerInvariant() switch
        {
            "all" => ScoreSplit.All,
            "valid" => ScoreSplit.Valid,
            "unseen" => ScoreSplit.Unseen,
            _ => throw new LumenException($"--split must be all, valid or unseen, got '{Split}'"),
        };
        var scored = Evaluation.SelectSplit(predictor, Evaluation.LabelledItems(predictor, Folder, Csv, Masks, Codes, Boxes), split);
        if (scored.TrainedOnWarning(split) is { } warning) Say.Warning($"{warning} (--split valid, --split unseen)");
        if (predictor.Images is null)
            Say.Warning($"'{Model}' does not record which images it was trained on (an older Lumen wrote it): if this folder holds training images, the metrics are optimistic");
        return scored;
    }
}
