namespace Lumen;

/// <summary>Lumen's cache folder: <c>LUMEN_HOME</c> if set, else <c>~/.cache/lumen</c>.</summary>
public static class LumenHome
{
    /// <summary>The cache root.</summary>
    public static string Root
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("LUMEN_HOME");
            if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "lumen");
        }
    }

    /// <summary>Where pretrained weights are cached.</summary>
    public static string Weights => Path.Combine(Root, "weights");
}
