using System.ComponentModel;
using Lumen.Inference;
using Lumen.Interpret;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen interpret</c> / <c>lumen report</c>: interpretation artefacts and the HTML report for a model on a labelled folder.</summary>
internal sealed class InterpretCommand : Command<InterpretCommand.Settings>
{
    internal sealed class Settings : ModelSettings
    {
        [CommandArgument(1, "<folder>")]
        [Description("Labelled images (class sub-folders); every image is evaluated")]
        public string Folder { get; init; } = "";

        [CommandOption("--csv <FILE>")]
        [Description("Labels from a CSV instead of folders")]
        public string? Csv { get; init; }

        [CommandOption("--top-losses <K>")]
        [DefaultValue(16)]
        public int TopLosses { get; init; } = 16;

        [CommandOption("--gradcam")]
        [Description("Also write the top losses with Grad-CAM overlays")]
        public bool GradCam { get; init; }

        [CommandOption("--tta <N>")]
        [Description("Also report metrics with N test-time-augmentation passes")]
        [DefaultValue(0)]
        public int Tta { get; init; }

        [CommandOption("-o|--out <DIR>")]
        [DefaultValue("lumen-interpret")]
        public string Out { get; init; } = "lumen-interpret";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.TopLosses < 1) throw new LumenException($"--top-losses must be at least 1, got {settings.TopLosses}");
        using var predictor = settings.LoadPredictor();
        var items = Evaluation.LabelledItems(predictor, settings.Folder, settings.Csv);
        string runDir = Path.GetDirectoryName(Path.GetFullPath(settings.Model))!;
        var written = ConsoleProgress.Run(progress =>
        {
            using var interp = ClassificationInterpretation.FromModel(predictor, items, settings.Tta, progress);
            var info = predictor.Info;
            var content = new ReportContent
            {
                Title = $"Lumen report: {Path.GetFileName(settings.Model)} on {Path.GetFileName(Path.GetFullPath(settings.Folder).TrimEnd('/'))}",
                Subtitle = $"{info.Spec.Architecture} ({info.Spec.Weights}), {info.Preprocessing.Size}px, {info.Classes.Count} classes, trained {info.Training.Epochs} epochs on {info.Training.CreatedUtc:yyyy-MM-dd}",
                Interpretation = interp,
                TopLosses = settings.TopLosses,
                GradCam = settings.GradCam,
            }.WithRunFolder(runDir);
            return InterpretationArtifacts.Write(settings.Out, content);
        });
        foreach (string path in written) AnsiConsole.MarkupLineInterpolated($"wrote {path}");
        return 0;
    }
}
