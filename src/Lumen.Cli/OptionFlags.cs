namespace Lumen.Cli;

/// <summary>The command-line flag of each library option, so library errors read as the user typed them.</summary>
internal static class OptionFlags
{
    private static readonly Dictionary<string, string> Flags = new(StringComparer.Ordinal)
    {
        ["Architecture"] = "--arch", ["Device"] = "--device", ["Weights"] = "--weights", ["Tta"] = "--tta",
        ["LabelSmoothing"] = "--label-smoothing", ["BatchSize"] = "--bs", ["ValidPct"] = "--valid-pct",
        ["LabelRegex"] = "--label-regex", ["Size"] = "--size", ["Count"] = "--count", ["Augment"] = "--aug",
        ["MaxRotate"] = "--max-rotate", ["Split"] = "--split", ["Epochs"] = "--epochs", ["FreezeEpochs"] = "--freeze-epochs",
        ["Lr"] = "--lr", ["OutputFolder"] = "--out", ["Resume"] = "--resume", ["Folds"] = "--folds", ["SaveBest"] = "--save-best",
        ["Engine"] = "--engine", ["Threads"] = "--threads", ["Precision"] = "--precision", ["Budget"] = "--budget",
        ["ProgressiveStartSize"] = "--progressive", ["Members"] = "--members",
    };

    /// <summary>The message of <paramref name="e"/> with the option named by its flag (or its library name when it has none).</summary>
    public static string Message(OptionException e) => $"{(Flags.TryGetValue(e.Option, out string? flag) ? flag : e.Option)} {e.Problem}";
}
