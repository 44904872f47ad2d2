using System.ComponentModel;
using Lumen.Inference;
using Lumen.Interpret;
using Lumen.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen interpret</c> / <c>lumen report</c>: interpretation artefacts and the HTML report for a model on a labelled folder.</summary>
internal sealed class InterpretCommand : Command<InterpretCommand.Settings>
{
    internal sealed class Settings : ScoringSettings
    {
        [CommandOption("--top-losses <K>")]
        [Description("How many of the worst-predicted images to show (default 16)")]
        [DefaultValue(16)]
        public int TopLosses { get; init; } = 16;

        [CommandOption("--gradcam")]
        [Description("Also write the top losses with Grad-CAM overlays")]
        public bool GradCam { get; init; }

        [CommandOption("-o|--out <DIR>")]
        [Description("Folder for the figures, metrics.json and report.html (default lumen-interpret)")]
        [DefaultValue("lumen-interpret")]
        public string Out { get; init; } = "lumen-interpret";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.TopLosses < 1) throw new LumenException($"--top-losses must be at least 1, got {settings.TopLosses}");
        using var predictor = settings.LoadPredictor();
        var scored = settings.Select(predictor);
        var items = scored.Items;
        string runDir = Path.GetDirectoryName(Path.GetFullPath(settings.Model))!;
        string scope = $"{items.Count} images scored (--split {settings.Split.ToLowerInvariant()})"
            + (settings.Split.Equals("all", StringComparison.OrdinalIgnoreCase) && scored.Trained > 0 ? $", {scored.Trained} of them trained on: metrics are optimistic" : "");
        if (predictor.Info.Task.PerBox)
        {
            if (settings.Tta > 0) throw new LumenException("--tta is not available for detection models");
            var (files, metrics) = ConsoleProgress.Run(progress =>
            {
                var interp = DetectionInterpretation.FromModel(predictor, items, progress);
                var info = predictor.Info;
                return (interp.Write(settings.Out, $"Lumen report: {Path.GetFileName(settings.Model)} on {Path.GetFileName(Path.GetFullPath(settings.Folder).TrimEnd('/'))}",
                    $"{info.Spec.Architecture} detector ({info.Spec.Weights}), {info.Preprocessing.Size}px, trained {info.Training.Epochs} epochs on {info.Training.CreatedUtc:yyyy-MM-dd}; {scope}; "
                    + "boxes found at each image's own size", Math.Min(settings.TopLosses, 16)), interp.Metrics);
            });
            foreach (var (name, value) in metrics) Say.Line($"{name} {value:F4}");
            foreach (string path in files) Say.Line($"wrote {path}");
            return 0;
        }
        if (predictor.Info.Task.PerPixel)
        {
            var (files, metrics) = ConsoleProgress.Run(progress =>
            {
                var interp = SegmentationInterpretation.FromModel(predictor, items, settings.Tta, progress);
                var info = predictor.Info;
                return (interp.Write(settings.Out, $"Lumen report: {Path.GetFileName(settings.Model)} on {Path.GetFileName(Path.GetFullPath(settings.Folder).TrimEnd('/'))}",
                    $"{info.Spec.Architecture} U-Net ({info.Spec.Weights}), {info.Preprocessing.Size}px, trained {info.Training.Epochs} epochs on {info.Training.CreatedUtc:yyyy-MM-dd}; {scope}; "
                    + "scored at each image's own size", Math.Min(settings.TopLosses, 16)), interp.Metrics);
            });
            foreach (var (name, value) in metrics) Say.Line($"{name} {value:F4}");
            foreach (string path in files) Say.Line($"wrote {path}");
            return 0;
        }
        var written = ConsoleProgress.Run(progress =>
        {
            using var interp = ClassificationInterpretation.FromModel(predictor, items, settings.Tta, progress);
            var info = predictor.Info;
            var content = new ReportContent
            {
                Title = $"Lumen report: {Path.GetFileName(settings.Model)} on {Path.GetFileName(Path.GetFullPath(settings.Folder).TrimEnd('/'))}",
                Subtitle = $"{info.Spec.Architecture} ({info.Spec.Weights}), {info.Preprocessing.Size}px, {info.Classes.Count} classes, trained {info.Training.Epochs} epochs on {info.Training.CreatedUtc:yyyy-MM-dd}; "
                    + scope,
                Interpretation = interp,
                TopLosses = settings.TopLosses,
                GradCam = settings.GradCam,
            }.WithRunFolder(RunFolder.At(runDir));
            return InterpretationArtifacts.Write(settings.Out, content);
        });
        foreach (string path in written) Say.Line($"wrote {path}");
        return 0;
    }
}
