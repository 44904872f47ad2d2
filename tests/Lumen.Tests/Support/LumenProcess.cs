using System.Diagnostics;

namespace Lumen.Tests.Support;

/// <summary>Runs the real <c>lumen</c> CLI (the built lumen.dll) in a child process.</summary>
public static class LumenProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "lumen.dll");

    /// <summary>A start description for <c>dotnet lumen.dll args</c>, optionally wrapped (e.g. by capsh).</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "120";
        return psi;
    }

    /// <summary>Runs to the end (at most <paramref name="timeout"/>); returns the exit code and stdout + stderr.</summary>
    public static (int Code, string Output) Run(params string[] args) => Run(StartInfo(args), TimeSpan.FromMinutes(3));

    public static (int Code, string Output) Run(ProcessStartInfo psi, TimeSpan timeout)
    {
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"lumen {string.Join(' ', psi.ArgumentList.Skip(1))} ran longer than {timeout}");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>True when this process is root (permission tests then drop the capabilities that bypass file modes).</summary>
    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>
    /// Runs lumen without the capabilities that let root ignore file permissions (capsh), so a folder
    /// with mode 000 is unreadable as it would be for any user. Null when capsh is missing.
    /// </summary>
    public static ProcessStartInfo? WithoutPermissionOverride(IEnumerable<string> args)
    {
        if (!IsRoot) return StartInfo(args);
        if (!File.Exists("/usr/sbin/capsh") && !File.Exists("/sbin/capsh") && !File.Exists("/usr/bin/capsh")) return null;
        var inner = StartInfo(args);
        var psi = new ProcessStartInfo("capsh") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", "exec \"$0\" \"$@\"", "dotnet" }) psi.ArgumentList.Add(a);
        foreach (string a in inner.ArgumentList) psi.ArgumentList.Add(a);
        return psi;
    }
}
