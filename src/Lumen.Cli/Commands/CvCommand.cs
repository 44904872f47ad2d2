using System.ComponentModel;
using System.Globalization;
using Lumen.Workflows;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen cv</c>: the library's <see cref="CrossValidation"/>: the train recipe once per fold, per-fold and mean ± sd metrics.</summary>
internal sealed class CvCommand : Command<CvCommand.Settings>
{
    internal sealed class Settings : RecipeSettings
    {
        [CommandOption("-o|--out <DIR>")]
        [Description("Output folder: cv.json, oof.csv, confusion_matrix.png and each fold's run in fold-k/ (default lumen-cv)")]
        [DefaultValue("lumen-cv")]
        public string Out { get; init; } = "lumen-cv";

        [CommandOption("--folds <K>")]
        [Description("Number of stratified folds (default 5); every image is held out once")]
        [DefaultValue(5)]
        public int Folds { get; init; } = 5;

        [CommandOption("--tta <N>")]
        [Description("Test-time augmentation passes when scoring each fold's model (default 0: none)")]
        [DefaultValue(0)]
        public int Tta { get; init; }

        [CommandOption("--members <N>")]
        [Description("Models trained per fold (default 1); with more, each fold's model is the ensemble of N trained with seeds --seed, --seed+1, … on the same fold (what an ensemble is worth)")]
        [DefaultValue(1)]
        public int Members { get; init; } = 1;

        [CommandOption("--ensemble")]
        [Description("Also write ensemble.lumen: the fold models as one model that averages their probabilities (predict, evaluate and serve take it like any model)")]
        public bool Ensemble { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var request = new CrossValidationRequest { Recipe = settings.ToTrainRequest(settings.Out) with { Resume = false }, Folds = settings.Folds, Tta = settings.Tta, Members = settings.Members, Resume = settings.Resume, Ensemble = settings.Ensemble };
        using var ctrlC = CtrlC.Watch();
        var result = ConsoleProgress.Run(progress => CrossValidation.Run(request, progress, ctrlC.Token));
        if (result.Folds.Count > 0)
        {
            var metrics = result.MetricNames;
            var headers = new[] { "fold", "train", "held out" }.Concat(metrics).Append("time").ToArray();
            static string Number(double value) => value.ToString("F4", CultureInfo.InvariantCulture);
            var rows = result.Folds.Select(f => (IReadOnlyList<string>)new[] { $"{f.Fold}", $"{f.TrainImages}", $"{f.ValidImages}" }
                    .Concat(metrics.Select(m => Number(f.Metrics[m]))).Append(TimeSpan.FromSeconds(f.Seconds).ToString(@"mm\:ss")).ToArray())
                .Append(new[] { "mean ± sd", "", "" }.Concat(metrics.Select(m => result.Mean(m).ToString())).Append("").ToArray()).ToList();
            foreach (string line in TextTable.Lines(headers, rows, AnsiConsole.Profile.Width)) Say.Line(line);
        }
        if (result.Interrupted)
        {
            Say.Prefixed("interrupted: ", Color.Yellow, $"{result.Folds.Count} of {settings.Folds} folds finished; continue with the same command and --resume");
            return 130;
        }
        if (result.EnsemblePath is { } ensemble) Say.Line($"ensemble of the {settings.Folds} fold models written to {ensemble}");
        Say.Success($"{settings.Folds}-fold {result.Task.SummaryMetric.Name} {result.Summary}; cv.json, oof.csv{(result.Confusion() is null ? "" : " and confusion_matrix.png")} in {result.OutputFolder}");
        return 0;
    }
}
