using System.ComponentModel;
using Lumen.Data;
using Lumen.Inference;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;

namespace Lumen.Cli.Commands;

/// <summary>
/// <c>lumen calibrate model.lumen folder</c>: measures the int8 activation ranges on images like the
/// training ones and stores them in the model file (which `train` does by itself at export; this is for
/// files written before, or to calibrate on other images).
/// </summary>
internal sealed class CalibrateCommand : Command<CalibrateCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<model>")]
        [Description("A .lumen model file (rewritten in place, atomically)")]
        public string Model { get; init; } = "";

        [CommandArgument(1, "<folder>")]
        [Description("Images like the training images (searched recursively; the training folder itself is best)")]
        public string Folder { get; init; } = "";

        [CommandOption("--images <N>")]
        [Description("How many images to measure, spread evenly over the folder (default 64)")]
        [DefaultValue(Int8Calibration.DefaultImages)]
        public int Images { get; init; } = Int8Calibration.DefaultImages;
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Images < 1) throw new LumenException($"--images must be at least 1, got {settings.Images}");
        if (!Directory.Exists(settings.Folder)) throw new LumenException($"'{settings.Folder}' is not a folder");
        var info = ModelFile.ReadInfo(settings.Model);
        var files = FolderSource.ImageFiles(settings.Folder).ToList();
        if (files.Count == 0) throw new LumenException($"no images found in '{settings.Folder}'");
        var prepared = new List<Imaging.RgbImage>();
        foreach (string file in Int8Calibration.Spread(files, settings.Images))
        {
            try { prepared.Add(info.Preprocessing.Prepare(file)); }
            catch (ImageDecodeException e) { Say.Warning($"skipped '{file}': {e.Reason}"); }
        }
        if (prepared.Count == 0) throw new LumenException($"none of the chosen images in '{settings.Folder}' could be read");
        var calibration = ModelFile.AddCalibration(settings.Model, prepared, $"{prepared.Count} images of {Path.GetFileName(Path.GetFullPath(settings.Folder))}");
        Say.Line($"int8 calibration of {calibration.Convs.Count} convolutions measured on {calibration.Images} images and stored in {settings.Model}");
        return 0;
    }
}
