namespace Lumen.Tests.Support;

/// <summary>
/// A test on the real brain-MRI development set (../shared/data/brain-mri-dev beside the repository).
/// Skipped, with the path it looked for, when the folder is not there (e.g. a clone elsewhere).
/// </summary>
public sealed class BrainMriFactAttribute : FactAttribute
{
    public BrainMriFactAttribute()
    {
        if (BrainMri.Folder is null) Skip = $"brain-mri-dev not found (looked for {BrainMri.Expected}); end-to-end test skipped";
    }
}

internal static class BrainMri
{
    /// <summary>Where the set is expected: LUMEN_BRAIN_MRI, else ../shared/data/brain-mri-dev from the repository root.</summary>
    public static string Expected
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("LUMEN_BRAIN_MRI");
            if (!string.IsNullOrEmpty(env)) return env;
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "Lumen.sln"))) dir = dir.Parent;
            return System.IO.Path.GetFullPath(System.IO.Path.Combine(dir?.FullName ?? ".", "..", "shared", "data", "brain-mri-dev"));
        }
    }

    public static string? Folder => Directory.Exists(Expected) ? Expected : null;
}
