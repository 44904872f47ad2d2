using System.Diagnostics;
using System.Globalization;

namespace Lumen;

/// <summary>
/// A ready <see cref="IProgressReporter"/> for programs and logs: writes plain lines to a
/// <see cref="TextWriter"/> (the console, a log file): each task's summary when it completes (an
/// epoch's losses and metrics, a fold's scores), its count and time when it ends without one, a
/// progress line at most every <c>interval</c> for long tasks, and warnings prefixed "warning: ".
/// <code>TrainWorkflow.Run(request, new TextProgress(Console.Out));</code>
/// </summary>
/// <param name="writer">Where lines go; written under a lock, so tasks may advance from several threads.</param>
/// <param name="interval">The least time between two progress lines of one task (default 10 s).</param>
public sealed class TextProgress(TextWriter writer, TimeSpan? interval = null) : IProgressReporter
{
    private readonly TimeSpan _interval = interval ?? TimeSpan.FromSeconds(10);
    private readonly Lock _lock = new();

    /// <inheritdoc />
    public IProgressTask Start(string description, long total) => new Task(this, description, total);

    /// <inheritdoc />
    public void Warn(string message) => Write($"warning: {message}");

    private void Write(string line)
    {
        lock (_lock)
        {
            writer.WriteLine(line);
            writer.Flush();
        }
    }

    private sealed class Task(TextProgress owner, string description, long total) : IProgressTask
    {
        private readonly Stopwatch _watch = Stopwatch.StartNew();
        private long _done;
        private TimeSpan _lastLine;
        private bool _ended;

        public void Advance(long steps = 1)
        {
            long done = Interlocked.Add(ref _done, steps);
            var elapsed = _watch.Elapsed;
            lock (owner._lock)
            {
                if (_ended || elapsed - _lastLine < owner._interval || done >= total) return;
                _lastLine = elapsed;
            }
            owner.Write(string.Create(CultureInfo.InvariantCulture, $"{description}: {done}/{total} ({100.0 * done / Math.Max(total, 1):F0}%, {elapsed.TotalSeconds:F0} s)"));
        }

        public void Complete(string summary)
        {
            _ended = true;
            owner.Write(summary);
        }

        public void Dispose()
        {
            if (_ended) return;
            _ended = true;
            owner.Write(string.Create(CultureInfo.InvariantCulture, $"{description}: {Interlocked.Read(ref _done)}/{total} in {_watch.Elapsed.TotalSeconds:F1} s"));
        }
    }
}
