namespace Lumen.Cli.Terminal;

/// <summary>
/// Turns the first Ctrl+C into a cancellation (training finishes its batch and writes a checkpoint);
/// a second Ctrl+C stops the process at once. Dispose to restore the default handling.
/// </summary>
internal sealed class CtrlC : IDisposable
{
    private readonly CancellationTokenSource _interrupt = new();
    private readonly string _notice;

    private CtrlC(string notice)
    {
        _notice = notice;
        Console.CancelKeyPress += OnCancel;
    }

    /// <summary>Cancelled by the first Ctrl+C.</summary>
    public CancellationToken Token => _interrupt.Token;

    /// <summary>Starts watching for Ctrl+C; <paramref name="notice"/> says what the first one does.</summary>
    public static CtrlC Watch(string notice = "finishing the current batch, then writing a checkpoint") => new(notice);

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        if (_interrupt.IsCancellationRequested) return;
        e.Cancel = true;
        _interrupt.Cancel();
        Console.Error.WriteLine($"lumen: {_notice} (Ctrl+C again to abort)");
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        _interrupt.Dispose();
    }
}
