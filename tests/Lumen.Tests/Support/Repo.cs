namespace Lumen.Tests.Support;

/// <summary>The repository the tests were built from (the folder above the test binaries holding Lumen.sln).</summary>
public static class Repo
{
    private static readonly Lazy<string> Found = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "Lumen.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("the repository root (Lumen.sln) is not above the test binaries");
    });

    /// <summary>The repository's root folder.</summary>
    public static string Root => Found.Value;

    /// <summary>A path inside the repository.</summary>
    public static string File(params string[] parts) => Path.Combine(new[] { Root }.Concat(parts).ToArray());
}
