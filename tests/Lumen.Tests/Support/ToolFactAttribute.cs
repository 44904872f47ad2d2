namespace Lumen.Tests.Support;

/// <summary>Tools some tests drive; each says how to get it when it is missing.</summary>
public static class Tools
{
    /// <summary>Debian's headless Chromium (.ci/run installs it).</summary>
    public const string Chromium = "chromium";

    /// <summary>Node with playwright-core in tests/browser (.ci/run installs both).</summary>
    public const string Playwright = "playwright";

    /// <summary>binutils' readelf.</summary>
    public const string Readelf = "readelf";

    /// <summary>Why <paramref name="tool"/> cannot be used here, or null when it can.</summary>
    public static string? Missing(string tool) => tool switch
    {
        Chromium => File.Exists("/usr/bin/chromium") ? null : "/usr/bin/chromium not found (Debian: apt-get install chromium; .ci/run installs it)",
        Playwright => Missing(Chromium)
            ?? (!new[] { "/usr/bin/node", "/usr/local/bin/node" }.Any(File.Exists) ? "node not found (apt-get install nodejs)"
            : !Directory.Exists(Repo.File("tests", "browser", "node_modules", "playwright-core")) ? "playwright-core not installed (npm install --prefix tests/browser)"
            : null),
        Readelf => new[] { "/usr/bin/readelf", "/bin/readelf" }.Any(File.Exists) ? null : "readelf not found (apt-get install binutils)",
        _ => throw new ArgumentOutOfRangeException(nameof(tool), tool, "unknown tool"),
    };
}

/// <summary>A test that needs an outside tool: skipped, saying which and how to get it, where the tool is missing.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(string tool)
    {
        if (Tools.Missing(tool) is { } why) Skip = why;
    }
}
