using System.Diagnostics;
using Spectre.Console;

namespace Lumen.Cli.Terminal;

/// <summary>
/// Renders library progress: live Spectre.Console bars with ETA on a terminal, one line per finished
/// task otherwise (logs and CI). A finished task's summary (an epoch's results, say) is printed as a
/// plain line above the live bars rather than kept in the bar's description, where a long text would
/// squeeze the bars to nothing. Warnings are collected and printed once the work is done, so they
/// are not lost under a progress display.
/// </summary>
internal static class ConsoleProgress
{
    /// <summary>Runs <paramref name="work"/> with a reporter suited to the console, then prints its warnings.</summary>
    public static T Run<T>(Func<IProgressReporter, T> work) => Run(AnsiConsole.Console, !Console.IsOutputRedirected, work);

    /// <summary>As <see cref="Run{T}(Func{IProgressReporter, T})"/> on <paramref name="console"/> (tests pass a recording console).</summary>
    public static T Run<T>(IAnsiConsole console, bool live, Func<IProgressReporter, T> work)
    {
        var warnings = new List<string>();
        try
        {
            if (live && console.Profile.Capabilities.Interactive)
            {
                return console.Progress()
                    .AutoClear(true)
                    .HideCompleted(true)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                        new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .Start(ctx => work(new SpectreReporter(console, ctx, warnings)));
            }
            return work(new LineReporter(warnings));
        }
        finally
        {
            // Also when the work failed: a licence notice or a data warning may explain the failure.
            foreach (string warning in warnings) Say.Warning(warning);
        }
    }

    /// <summary>
    /// A description short enough to leave the bar, percentage and times room on a
    /// <paramref name="width"/>-column console (those take about 45 columns).
    /// </summary>
    internal static string Fit(string description, int width)
    {
        int room = Math.Max(12, width - 48);
        return description.Length <= room ? description : description[..(room - 1)] + "…";
    }

    private sealed class SpectreReporter(IAnsiConsole console, ProgressContext context, List<string> warnings) : IProgressReporter
    {
        public IProgressTask Start(string description, long total) =>
            new SpectreTask(console, context.AddTask(Markup.Escape(Fit(description, console.Profile.Width)), maxValue: Math.Max(1, total)));

        public void Warn(string message) { lock (warnings) warnings.Add(message); }
    }

    private sealed class SpectreTask(IAnsiConsole console, ProgressTask task) : IProgressTask
    {
        private string? _summary;

        public void Advance(long steps = 1) => task.Increment(steps);

        public void Complete(string summary) => _summary = summary;

        public void Dispose()
        {
            task.Value = task.MaxValue;
            task.StopTask();
            // Written while the live display runs, this lands above the bars and stays after they clear.
            if (_summary is not null) console.Write(new Text(_summary + "\n"));
        }
    }

    private sealed class LineReporter(List<string> warnings) : IProgressReporter
    {
        public IProgressTask Start(string description, long total) => new LineTask(description, total);

        public void Warn(string message) { lock (warnings) warnings.Add(message); }
    }

    private sealed class LineTask(string description, long total) : IProgressTask
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _done;
        private string? _summary;

        public void Advance(long steps = 1) => Interlocked.Add(ref _done, steps);

        public void Complete(string summary) => _summary = summary;

        public void Dispose() => Console.Error.WriteLine(_summary ?? $"{description}: {Interlocked.Read(ref _done)}/{total} in {_clock.Elapsed.TotalSeconds:F1}s");
    }
}
