using System.Text.Json;

namespace Lumen.Files;

/// <summary>The JSON style of every file Lumen writes for scripts (history.json, metrics.json): snake_case keys, like the metric names.</summary>
public static class LumenJson
{
    /// <summary>Indented, snake_case property names.</summary>
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
