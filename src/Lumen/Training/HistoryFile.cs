using System.Text.Json;

namespace Lumen.Training;

/// <summary>Reads the history.json that <see cref="HistoryWriter"/> writes.</summary>
public static class HistoryFile
{
    /// <summary>The epoch records, or null when the file does not exist or cannot be read.</summary>
    public static IReadOnlyList<EpochRecord>? Read(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<List<EpochRecord>>(File.ReadAllText(path));
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
