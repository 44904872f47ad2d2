namespace Lumen.Tests.Support;

/// <summary>
/// Test categories (xunit traits "Category"): the fast subset is every test without one,
/// <c>dotnet test Lumen.sln -c Release --filter "Category!=slow&amp;Category!=process&amp;Category!=browser&amp;Category!=mpi"</c>.
/// </summary>
public static class Category
{
    /// <summary>Trains a model, or otherwise takes more than about a second and a half.</summary>
    public const string Slow = "slow";

    /// <summary>Starts Lumen in other processes (the CLI, a server, a fresh test process).</summary>
    public const string Process = "process";

    /// <summary>Drives a headless browser (chromium or node).</summary>
    public const string Browser = "browser";

    /// <summary>Runs several processes under mpirun.</summary>
    public const string Mpi = "mpi";
}
