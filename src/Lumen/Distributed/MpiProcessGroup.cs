using System.Runtime.InteropServices;

namespace Lumen.Distributed;

/// <summary>
/// MPI's world communicator through a thin binding to the system's Open MPI (<c>libmpi.so.40</c>; Debian's
/// <c>openmpi-bin</c> and <c>libopenmpi-dev</c>): the handful of calls data-parallel training needs. Open
/// MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM) are the addresses of exported objects, read from the
/// library. A binding of eight calls rather than the MPI.NET package: nothing to ship beside Open MPI.
/// </summary>
public sealed class MpiProcessGroup : IProcessGroup
{
    private const string Library = "libmpi.so.40";
    private static readonly IntPtr InPlace = 1;  // MPI_IN_PLACE in Open MPI
    private static MpiProcessGroup? _world;
    private readonly IntPtr _comm, _float, _sum;
    private bool _finalized;

    private MpiProcessGroup(IntPtr library)
    {
        _comm = NativeLibrary.GetExport(library, "ompi_mpi_comm_world");
        _float = NativeLibrary.GetExport(library, "ompi_mpi_float");
        _sum = NativeLibrary.GetExport(library, "ompi_mpi_op_sum");
        Check(MPI_Init(IntPtr.Zero, IntPtr.Zero), "MPI_Init");
        Check(MPI_Comm_rank(_comm, out int rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(_comm, out int size), "MPI_Comm_size");
        (Rank, Size) = (rank, size);
    }

    /// <summary>Initialises MPI once per process and returns the world group.</summary>
    /// <exception cref="LumenException">libmpi cannot be loaded or initialised.</exception>
    public static MpiProcessGroup Initialize()
    {
        if (_world is not null) return _world;
        // Open MPI loads its components as plugins that resolve symbols of libmpi itself, so libmpi must be
        // loaded with RTLD_GLOBAL (.NET loads libraries RTLD_LOCAL).
        if (dlopen(Library, RtldNow | RtldGlobal) == IntPtr.Zero)
            throw new LumenException($"cannot load Open MPI ({Library}): {Marshal.PtrToStringAnsi(dlerror())}; install it (Debian: apt-get install openmpi-bin libopenmpi-dev)");
        return _world = new MpiProcessGroup(NativeLibrary.Load(Library));
    }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <inheritdoc />
    public void AllreduceSum(Span<float> buffer)
    {
        // MPI counts are ints: large buffers go in pieces.
        for (int start = 0; start < buffer.Length; start += int.MaxValue / 2)
        {
            var piece = buffer.Slice(start, Math.Min(int.MaxValue / 2, buffer.Length - start));
            Check(MPI_Allreduce(InPlace, ref MemoryMarshal.GetReference(piece), piece.Length, _float, _sum, _comm), "MPI_Allreduce");
        }
    }

    /// <inheritdoc />
    public void Broadcast(Span<float> buffer, int root = 0)
    {
        for (int start = 0; start < buffer.Length; start += int.MaxValue / 2)
        {
            var piece = buffer.Slice(start, Math.Min(int.MaxValue / 2, buffer.Length - start));
            Check(MPI_Bcast(ref MemoryMarshal.GetReference(piece), piece.Length, _float, root, _comm), "MPI_Bcast");
        }
    }

    /// <inheritdoc />
    public void Barrier() => Check(MPI_Barrier(_comm), "MPI_Barrier");

    /// <inheritdoc />
    public void Abort(int exitCode) => MPI_Abort(_comm, exitCode);

    /// <summary>Ends MPI for this process (after the last collective).</summary>
    public void Dispose()
    {
        if (_finalized) return;
        _finalized = true;
        MPI_Finalize();
    }

    private static void Check(int code, string call)
    {
        // Open MPI's default error handler aborts the job on errors; a code reaching us means it was changed.
        if (code != 0) throw new LumenException($"{call} failed with MPI error {code}");
    }

    private const int RtldNow = 2, RtldGlobal = 0x100;

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern IntPtr dlopen(string file, int mode);

    [DllImport("libc", EntryPoint = "dlerror")]
    private static extern IntPtr dlerror();

    [DllImport(Library)] private static extern int MPI_Init(IntPtr argc, IntPtr argv);
    [DllImport(Library)] private static extern int MPI_Finalize();
    [DllImport(Library)] private static extern int MPI_Comm_rank(IntPtr comm, out int rank);
    [DllImport(Library)] private static extern int MPI_Comm_size(IntPtr comm, out int size);
    [DllImport(Library)] private static extern int MPI_Allreduce(IntPtr send, ref float receive, int count, IntPtr datatype, IntPtr op, IntPtr comm);
    [DllImport(Library)] private static extern int MPI_Bcast(ref float buffer, int count, IntPtr datatype, int root, IntPtr comm);
    [DllImport(Library)] private static extern int MPI_Barrier(IntPtr comm);
    [DllImport(Library)] private static extern int MPI_Abort(IntPtr comm, int code);
}
