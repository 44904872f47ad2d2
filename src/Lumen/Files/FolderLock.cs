namespace Lumen.Files;

/// <summary>
/// An exclusive claim on an output folder, so two runs never write the same files: a
/// <c>.lumen.lock</c> file held open with an operating-system lock, released when disposed or when
/// the process dies (even by SIGKILL), so a stale lock never blocks the next run. Taking it also
/// proves the folder is writable before any long work starts, and removes the temporary files of
/// <see cref="AtomicFile"/> that a killed run left behind (no other run can be writing them).
/// </summary>
public sealed class FolderLock : IDisposable
{
    /// <summary>The lock file's name inside the folder.</summary>
    public const string FileName = ".lumen.lock";

    // What .NET reports when another process holds the lock: EWOULDBLOCK from flock on Linux (11) and
    // macOS (35), ERROR_SHARING_VIOLATION or ERROR_LOCK_VIOLATION on Windows.
    private static bool HeldElsewhere(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020) or unchecked((int)0x80070021);

    private readonly FileStream _stream;

    private FolderLock(string folder, FileStream stream)
    {
        Folder = folder;
        _stream = stream;
    }

    /// <summary>The locked folder.</summary>
    public string Folder { get; }

    /// <summary>Creates <paramref name="folder"/> if needed and locks it.</summary>
    /// <exception cref="LumenException">Another run holds the folder, or it cannot be created or written.</exception>
    public static FolderLock Acquire(string folder)
    {
        folder = Path.GetFullPath(folder);
        string path = Path.Combine(folder, FileName);
        try
        {
            Directory.CreateDirectory(folder);
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            using (var writer = new StreamWriter(stream, leaveOpen: true)) writer.Write($"{Environment.ProcessId}\n");
            stream.Flush(flushToDisk: true);
            foreach (string stale in Directory.EnumerateFiles(folder, ".*.tmp")) File.Delete(stale);
            return new FolderLock(folder, stream);
        }
        catch (IOException e) when (HeldElsewhere(e))
        {
            throw new LumenException($"'{folder}' is in use by another Lumen run (it holds {path}); wait for that run to end, or write somewhere else", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LumenException($"cannot write into '{folder}': {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Delete while still holding the lock, so no other run can have opened it in between.
        try
        {
            File.Delete(Path.Combine(Folder, FileName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The lock is released below all the same; a leftover file is harmless.
        }
        _stream.Dispose();
    }
}
