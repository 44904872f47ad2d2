using Lumen.Files;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Lumen.Training;

/// <summary>
/// The epoch table on disk: <c>history.csv</c> and <c>history.json</c>. Epochs are numbered from 1
/// there, as the console shows them; JSON keys are snake_case like the metric names. Without a
/// validation set, valid_loss is empty (CSV) or null (JSON).
/// </summary>
public static class HistoryFile
{
    private sealed record Row(int Epoch, FitPhase Phase, double TrainLoss, double? ValidLoss, IReadOnlyDictionary<string, double> Metrics, double Seconds);

    /// <summary>Writes history.csv and history.json into <paramref name="folder"/> (atomically).</summary>
    public static void Write(string folder, IReadOnlyList<EpochRecord> rows)
    {
        var metricNames = rows.SelectMany(r => r.Metrics.Keys).Distinct().ToList();
        var csv = new StringBuilder();
        csv.AppendLine(Csv.Row(new[] { "epoch", "phase", "train_loss", "valid_loss" }.Concat(metricNames).Append("seconds")));
        foreach (var r in rows)
        {
            var cells = new List<string> { (r.Epoch + 1).ToString(CultureInfo.InvariantCulture), r.Phase.Name(), F(r.TrainLoss), double.IsNaN(r.ValidLoss) ? "" : F(r.ValidLoss) };
            cells.AddRange(metricNames.Select(m => r.Metrics.TryGetValue(m, out double v) ? F(v) : ""));
            cells.Add(r.Seconds.ToString("F1", CultureInfo.InvariantCulture));
            csv.AppendLine(Csv.Row(cells));
        }
        var run = new RunFolder(folder);
        AtomicFile.WriteAllText(run.HistoryCsv, csv.ToString());
        var json = rows.Select(r => new Row(r.Epoch + 1, r.Phase, r.TrainLoss, double.IsNaN(r.ValidLoss) ? null : r.ValidLoss, r.Metrics, r.Seconds)).ToList();
        AtomicFile.WriteAllText(run.HistoryJson, JsonSerializer.Serialize(json, LumenJson.Options));
    }

    /// <summary>The epoch records of a history.json, or null when the file does not exist or cannot be read.</summary>
    public static IReadOnlyList<EpochRecord>? Read(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<List<Row>>(File.ReadAllText(path), LumenJson.Options)?
                .Select(r => new EpochRecord(r.Epoch - 1, r.Phase, r.TrainLoss, r.ValidLoss ?? double.NaN, r.Metrics, r.Seconds)).ToList();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
