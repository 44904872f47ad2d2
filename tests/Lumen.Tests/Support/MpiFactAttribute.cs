using System.Diagnostics;

namespace Lumen.Tests.Support;

/// <summary>A test that launches Lumen under Open MPI's mpirun; skipped, saying why, when mpirun or libmpi is missing.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (Mpi.Missing is { } why) Skip = why;
    }
}

/// <summary>Runs the built CLI (lumen.dll) as an MPI job on this machine.</summary>
public static class Mpi
{
    public static string? Missing =>
        !File.Exists("/usr/bin/mpirun") ? "mpirun not found (Debian: apt-get install openmpi-bin libopenmpi-dev; .ci/run installs them); MPI test skipped"
        : !File.Exists("/usr/lib/x86_64-linux-gnu/libmpi.so.40") ? "libmpi.so.40 not found (apt-get install libopenmpi-dev); MPI test skipped"
        : null;

    /// <summary>`mpirun -np <paramref name="ranks"/> dotnet lumen.dll args` with one thread per rank; exit code and output.</summary>
    public static (int Code, string Output) Run(int ranks, params string[] args)
    {
        var psi = new ProcessStartInfo("mpirun") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "--oversubscribe", "--allow-run-as-root", "-np", ranks.ToString(), "-x", "OMP_NUM_THREADS=1", "dotnet", LumenProcess.Dll }.Concat(args))
            psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "120";
        return LumenProcess.Run(psi, TimeSpan.FromMinutes(5));
    }
}
