using Lumen.Training;
using Lumen.Workflows;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen train</c>: the library's <see cref="TrainWorkflow"/>, with Ctrl+C, progress and the epoch table.</summary>
internal sealed partial class TrainCommand : Command<TrainCommand.Settings>
{
    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var request = new TrainRequest
        {
            Data = settings.ToDataSource(), OutputFolder = settings.Out, DataOptions = settings.ToDataOptions(), Architecture = settings.Arch,
            Weights = settings.Weights, Training = settings.ToTrainingOptions(), Epochs = settings.Epochs, FreezeEpochs = settings.FreezeEpochs,
            Lr = settings.Lr.Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : ParseLr(settings.Lr), Resume = settings.Resume,
            EarlyStopping = settings.EarlyStopping, SaveBest = settings.SaveBest, Report = settings.Report, Device = settings.ResolveDevice(),
        };
        using var interrupt = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (interrupt.IsCancellationRequested) return; // a second Ctrl+C stops at once
            e.Cancel = true;
            interrupt.Cancel();
            Console.Error.WriteLine("lumen: finishing the current batch, then writing a checkpoint (Ctrl+C again to abort)");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var result = ConsoleProgress.Run(progress => TrainWorkflow.Run(request, progress, interrupt.Token));
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
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    internal static double ParseLr(string text) =>
        double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double lr) && lr > 0
            ? lr
            : throw new LumenException($"--lr must be a positive number (e.g. 2e-3) or 'auto', got '{text}'");

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
