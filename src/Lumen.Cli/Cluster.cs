using Lumen.Distributed;

namespace Lumen.Cli;

/// <summary>
/// The MPI job this process belongs to when started by <c>mpirun -np N lumen …</c> (N &gt; 1), else none.
/// Joined on first use; finalised when the command ends; a failing rank aborts the whole job so that the
/// others do not wait for it forever.
/// </summary>
internal static class Cluster
{
    private static readonly Lazy<IProcessGroup?> Joined = new(ProcessGroups.FromEnvironment);

    /// <summary>The job's processes, or null for a single process.</summary>
    public static IProcessGroup? Group => Joined.Value;

    /// <summary>True for the process that writes outputs and talks to the user (rank 0, or the only one).</summary>
    public static bool IsLeader => Group is null || Group.Rank == 0;

    /// <summary>Ends MPI after a command that ran to the end.</summary>
    public static void Finish()
    {
        if (Joined.IsValueCreated) Joined.Value?.Dispose();
    }

    /// <summary>After an error: stops every process of the job (no-op for one process).</summary>
    public static void AbortOnError(int exitCode)
    {
        if (!Joined.IsValueCreated || Joined.Value is not { } group) return;
        Console.Error.WriteLine($"lumen: rank {group.Rank} of {group.Size} failed; stopping every process of the job");
        group.Abort(exitCode);
    }
}
