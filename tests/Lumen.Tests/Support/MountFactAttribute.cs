using System.Diagnostics;

namespace Lumen.Tests.Support;

/// <summary>
/// A test that mounts a small tmpfs (full disk, read-only folder). Skipped, with the reason, where
/// this process may not mount (not root, or no CAP_SYS_ADMIN in a container).
/// </summary>
public sealed class MountFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Unavailable = new(Probe);

    public MountFactAttribute()
    {
        if (Unavailable.Value is { } reason) Skip = reason;
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "mounting a tmpfs needs Linux";
        using var dir = new TempFolder();
        try
        {
            Tmpfs.Mount(dir.Path, "size=64k");
            Tmpfs.Unmount(dir.Path);
            return null;
        }
        catch (Exception e)
        {
            return $"cannot mount a tmpfs here ({e.Message}); run the tests as root with CAP_SYS_ADMIN to check full-disk and read-only handling";
        }
    }
}

/// <summary>Mounts and unmounts tmpfs file systems with mount(8).</summary>
public static class Tmpfs
{
    public static void Mount(string path, string options) => Exec("mount", "-t", "tmpfs", "-o", options, "tmpfs", path);

    public static void Unmount(string path) => Exec("umount", path);

    private static void Exec(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {error.Trim()}");
    }
}

/// <summary>A tmpfs mounted for one test, unmounted at the end.</summary>
public sealed class MountedTmpfs : IDisposable
{
    private readonly TempFolder _dir = new();

    public MountedTmpfs(string options)
    {
        Path = _dir.Path;
        Tmpfs.Mount(Path, options);
    }

    public string Path { get; }

    public void Dispose()
    {
        Tmpfs.Unmount(Path);
        _dir.Dispose();
    }
}
