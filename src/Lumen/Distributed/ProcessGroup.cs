namespace Lumen.Distributed;

/// <summary>
/// The processes of one data-parallel job (MPI's world communicator): each knows its rank, and together
/// they sum buffers, broadcast from one rank and wait for each other. Every member must make the same
/// calls in the same order (collectives), or the job blocks.
/// </summary>
public interface IProcessGroup : IDisposable
{
    /// <summary>This process's number, 0 to <see cref="Size"/> − 1; rank 0 writes the outputs.</summary>
    int Rank { get; }

    /// <summary>How many processes take part.</summary>
    int Size { get; }

    /// <summary>Replaces <paramref name="buffer"/> on every rank by the element-wise sum over all ranks.</summary>
    void AllreduceSum(Span<float> buffer);

    /// <summary>Replaces <paramref name="buffer"/> on every rank by rank <paramref name="root"/>'s.</summary>
    void Broadcast(Span<float> buffer, int root = 0);

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();

    /// <summary>Stops every process of the job (a rank that fails must not leave the others waiting).</summary>
    void Abort(int exitCode);
}

/// <summary>The process groups a host can use.</summary>
public static class ProcessGroups
{
    /// <summary>This process's rank among those of the job on the same machine (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK, MPICH's MPI_LOCALRANKID), or null.</summary>
    public static int? LocalRank() =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_RANK") ?? Environment.GetEnvironmentVariable("MPI_LOCALRANKID"), out int rank) ? rank : null;

    /// <summary>
    /// The job this process was started in: an MPI group when an MPI launcher started more than one
    /// process (<c>mpirun -np N</c>: Open MPI sets OMPI_COMM_WORLD_SIZE, MPICH and Intel MPI PMI_SIZE),
    /// otherwise null (one process, MPI never loaded).
    /// </summary>
    /// <exception cref="LumenException">Started by mpirun, but the MPI library cannot be loaded.</exception>
    public static IProcessGroup? FromEnvironment()
    {
        string? size = Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") ?? Environment.GetEnvironmentVariable("PMI_SIZE");
        return int.TryParse(size, out int n) && n > 1 ? MpiProcessGroup.Initialize() : null;
    }
}
