namespace Lumen;

/// <summary>
/// Receives progress of long-running work. The library never writes to the console; a host renders
/// these calls (the CLI as Spectre.Console progress bars) and tests can record them.
/// </summary>
public interface IProgressReporter
{
    /// <summary>Starts a task of <paramref name="total"/> steps and returns a handle to advance it.</summary>
    IProgressTask Start(string description, long total);

    /// <summary>Reports a warning the user should see (for example a data-leakage finding).</summary>
    void Warn(string message);
}

/// <summary>One task started by <see cref="IProgressReporter.Start"/>; dispose it when the task ends.</summary>
public interface IProgressTask : IDisposable
{
    /// <summary>Advances the task by <paramref name="steps"/> steps. Safe to call from several threads.</summary>
    void Advance(long steps = 1);

    /// <summary>Ends the task with a one-line summary that replaces its description (e.g. an epoch's results).</summary>
    void Complete(string summary) { }
}

/// <summary>A reporter that ignores everything; the default when the caller passes none.</summary>
public sealed class NullProgress : IProgressReporter, IProgressTask
{
    /// <summary>The shared instance.</summary>
    public static readonly NullProgress Instance = new();

    private NullProgress() { }

    /// <inheritdoc />
    public IProgressTask Start(string description, long total) => this;

    /// <inheritdoc />
    public void Warn(string message) { }

    /// <inheritdoc />
    public void Advance(long steps = 1) { }

    /// <inheritdoc />
    public void Dispose() { }
}

/// <summary>Helpers over <see cref="IProgressReporter"/>.</summary>
public static class ProgressReporterExtensions
{
    /// <summary>A one-line note (a choice made, a result), shown as a finished task's summary.</summary>
    public static void Note(this IProgressReporter progress, string line)
    {
        using var task = progress.Start(line, 1);
        task.Complete(line);
    }
}
