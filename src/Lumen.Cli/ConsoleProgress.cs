using System.Diagnostics;
using Spectre.Console;

namespace Lumen.Cli;

/// <summary>
/// Renders library progress: live Spectre.Console bars with ETA on a terminal, one line per finished
/// task otherwise (logs and CI). Warnings are collected and printed once the work is done, so they
/// are not lost under a progress display.
/// </summary>
internal static class ConsoleProgress
{
    /// <summary>Runs <paramref name="work"/> with a reporter suited to the console, then prints its warnings.</summary>
    public static T Run<T>(Func<IProgressReporter, T> work)
    {
        var warnings = new List<string>();
        try
        {
            if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
            {
                return AnsiConsole.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                        new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .Start(ctx => work(new SpectreReporter(ctx, warnings)));
            }
            return work(new LineReporter(warnings));
        }
        finally
        {
            // Also when the work failed: a licence notice or a data warning may explain the failure.
            foreach (string warning in warnings) AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {warning}");
        }
    }

    private sealed class SpectreReporter(ProgressContext context, List<string> warnings) : IProgressReporter
    {
        public IProgressTask Start(string description, long total) => new SpectreTask(context.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total)));

        public void Warn(string message) { lock (warnings) warnings.Add(message); }
    }

    private sealed class SpectreTask(ProgressTask task) : IProgressTask
    {
        public void Advance(long steps = 1) => task.Increment(steps);

        public void Complete(string summary) => task.Description = Markup.Escape(summary);

        public void Dispose()
        {
            task.Value = task.MaxValue;
            task.StopTask();
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
