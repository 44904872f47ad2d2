using System.ComponentModel;
using Lumen.Training;
using Lumen.Workflows;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen train</c>: the library's <see cref="TrainWorkflow"/>, with Ctrl+C, progress and the epoch table.</summary>
internal sealed class TrainCommand : Command<TrainCommand.Settings>
{
    internal sealed class Settings : RecipeSettings
    {
        [CommandOption("-o|--out <DIR>")]
        [Description("Output folder: model.lumen, history.csv/json, plots, checkpoint (default lumen-out)")]
        [DefaultValue("lumen-out")]
        public string Out { get; init; } = "lumen-out";

        [CommandOption("--report")]
        [Description("After training, write report.html and the interpretation figures (validation set) into --out")]
        public bool Report { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // Under mpirun every process runs this command; rank 0 talks and writes (see TrainRequest.Group).
        var request = settings.ToTrainRequest(settings.Out) with { Report = settings.Report, Group = Cluster.Group };
        using var ctrlC = CtrlC.Watch();
        var result = ConsoleProgress.Run(progress => TrainWorkflow.Run(request, progress, ctrlC.Token));
        if (!Cluster.IsLeader) return result.Interrupted ? 130 : 0;
        PrintHistory(result.Learner, AnsiConsole.Profile.Width);
        if (result.LrFind is { } found)
            Say.Line($"--lr auto: the LR finder suggests {found.Valley:0.##e0} (valley; minimum/10 {found.Minimum:0.##e0}, steep {found.Steep:0.##e0}); plot in {Path.Combine(result.OutputFolder, "lr_find.png")}");
        if (result.Interrupted)
        {
            Say.Prefixed("interrupted: ", Color.Yellow, $"checkpoint written to {result.Checkpoint}; continue with the same command and --resume");
            return 130;
        }
        if (result.Learner.StopReason is { } reason) Say.Line($"stopped early: {reason}");
        if (result.ReportPath is { } report) Say.Line($"report written to {report}");
        Say.Success($"model written to {result.ModelPath}; history, losses.png and metrics.png in {result.OutputFolder}");
        return 0;
    }

    /// <summary>The epoch table, fitted to the console's width (bands of columns rather than cut headers).</summary>
    internal static void PrintHistory(Learner learner, int width)
    {
        if (learner.History.Count == 0) return;
        var names = learner.History.SelectMany(h => h.Metrics.Keys).Distinct().ToList();
        var headers = new[] { "epoch", "phase", "train_loss", "valid_loss" }.Concat(names).Append("time").ToList();
        var rows = learner.History.Select(h => (IReadOnlyList<string>)new[] { (h.Epoch + 1).ToString(), h.Phase, $"{h.TrainLoss:F4}", $"{h.ValidLoss:F4}" }
            .Concat(names.Select(n => h.Metrics.TryGetValue(n, out double v) ? $"{v:F4}" : ""))
            .Append(TimeSpan.FromSeconds(h.Seconds).ToString(@"mm\:ss")).ToList()).ToList();
        foreach (string line in TextTable.Lines(headers, rows, width)) Say.Line(line);
    }
}
