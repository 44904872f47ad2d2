using System.ComponentModel;
using Lumen.Training;
using Lumen.Workflows;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

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

        [CommandOption("--budget <TIME>")]
        [Description("Train within this wall time, e.g. 15m, 90s or 1h30m: measures this machine's speed, then picks the image size (at most --size), the epochs (unless --epochs) and how many models to average, and says what it chose")]
        public string? Budget { get; init; }

        /// <summary>The parsed --budget, or null without one.</summary>
        public TimeSpan? ParsedBudget => Budget is null ? null : ParseDuration(Budget);

        /// <summary>Parses 15m, 90s, 1h30m, 2.5h (h, m and s parts in that order; a bare number is minutes).</summary>
        internal static TimeSpan ParseDuration(string text)
        {
            var match = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^(?:(?<h>\d+(?:\.\d+)?)h)?(?:(?<m>\d+(?:\.\d+)?)m(?:in)?)?(?:(?<s>\d+(?:\.\d+)?)s)?$|^(?<bare>\d+(?:\.\d+)?)$");
            double Part(string name) => match.Groups[name].Success ? double.Parse(match.Groups[name].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
            if (!match.Success || text.Trim().Length == 0)
                throw new LumenException($"--budget must be a duration such as 15m, 90s or 1h30m, got '{text}'");
            var duration = TimeSpan.FromHours(Part("h")) + TimeSpan.FromMinutes(Part("m") + Part("bare")) + TimeSpan.FromSeconds(Part("s"));
            return duration > TimeSpan.Zero ? duration : throw new LumenException($"--budget must be longer than zero, got '{text}'");
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // Under mpirun every process runs this command; rank 0 talks and writes (see TrainRequest.Group).
        var request = settings.ToTrainRequest(settings.Out) with { Report = settings.Report, Group = Cluster.Group };
        using var ctrlC = CtrlC.Watch();
        if (settings.ParsedBudget is { } budget) return TrainWithin(request, budget, ctrlC.Token);
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

    private static int TrainWithin(TrainRequest request, TimeSpan budget, CancellationToken cancellation)
    {
        var result = ConsoleProgress.Run(progress => TrainingBudget.Run(request, budget, progress, cancellation));
        if (result.Members.Count == 1) PrintHistory(result.Members[0].Learner, AnsiConsole.Profile.Width);
        if (result.Interrupted)
        {
            Say.Prefixed("interrupted: ", Color.Yellow, "a budgeted run does not resume; run it again, or train with --size and --epochs and resume that");
            return 130;
        }
        Say.Line($"{result.Plan}; took {BudgetPlan.Format(result.Elapsed)}");
        if (result.EnsembleScore is { } score && result.Members.Count > 1)
            Say.Line($"validation {score.Name}: ensemble {score.Value:F4}; members {string.Join(", ", result.Members.Select(m => m.Learner.History.LastOrDefault()?.Metrics.GetValueOrDefault(score.Name) is double a ? a.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : "-"))}");
        Say.Success($"model written to {result.ModelPath}{(result.Members.Count > 1 ? $" (ensemble of {result.Members.Count}; each member's run in member-k/)" : "")}");
        return 0;
    }

    /// <summary>The epoch table, fitted to the console's width (bands of columns rather than cut headers).</summary>
    internal static void PrintHistory(Learner learner, int width)
    {
        if (learner.History.Count == 0) return;
        var names = learner.History.SelectMany(h => h.Metrics.Keys).Distinct().ToList();
        var headers = new[] { "epoch", "phase", "train_loss", "valid_loss" }.Concat(names).Append("time").ToList();
        var rows = learner.History.Select(h => (IReadOnlyList<string>)new[] { (h.Epoch + 1).ToString(), h.Phase.Name(), $"{h.TrainLoss:F4}", $"{h.ValidLoss:F4}" }
            .Concat(names.Select(n => h.Metrics.TryGetValue(n, out double v) ? $"{v:F4}" : ""))
            .Append(TimeSpan.FromSeconds(h.Seconds).ToString(@"mm\:ss")).ToList()).ToList();
        foreach (string line in TextTable.Lines(headers, rows, width)) Say.Line(line);
    }
}
