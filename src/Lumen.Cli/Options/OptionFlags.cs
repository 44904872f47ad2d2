namespace Lumen.Cli.Options;

/// <summary>The command-line flag of each library option, so library errors read as the user typed them.</summary>
internal static class OptionFlags
{
    /// <summary>The flag that sets each option (a test checks every flag exists and every option is here or in <see cref="WithoutFlag"/>).</summary>
    public static readonly IReadOnlyDictionary<OptionName, string> Flags = new Dictionary<OptionName, string>
    {
        [OptionName.Architecture] = "--arch", [OptionName.Augment] = "--aug", [OptionName.BatchSize] = "--bs", [OptionName.Boxes] = "--boxes", [OptionName.Budget] = "--budget",
        [OptionName.Codes] = "--codes", [OptionName.Count] = "--count", [OptionName.DiceWeight] = "--dice-weight", [OptionName.Device] = "--device", [OptionName.Engine] = "--engine", [OptionName.Epochs] = "--epochs",
        [OptionName.Folds] = "--folds", [OptionName.FreezeEpochs] = "--freeze-epochs", [OptionName.LabelRegex] = "--label-regex",
        [OptionName.LabelSmoothing] = "--label-smoothing", [OptionName.Lr] = "--lr", [OptionName.MaxRotate] = "--max-rotate",
        [OptionName.Masks] = "--masks", [OptionName.Members] = "--members", [OptionName.NmsIou] = "--nms-iou", [OptionName.OutputFolder] = "--out", [OptionName.Precision] = "--precision",
        [OptionName.ProgressiveStartSize] = "--progressive", [OptionName.Resume] = "--resume", [OptionName.SaveBest] = "--save-best", [OptionName.ScoreThreshold] = "--score-threshold",
        [OptionName.Size] = "--size", [OptionName.Split] = "--split", [OptionName.Threads] = "--threads", [OptionName.Top] = "--top",
        [OptionName.Tta] = "--tta", [OptionName.ValidPct] = "--valid-pct", [OptionName.Weights] = "--weights",
    };

    /// <summary>Options the CLI does not expose (library and server settings): their messages use the library's name.</summary>
    public static readonly IReadOnlySet<OptionName> WithoutFlag = new HashSet<OptionName>
    {
        OptionName.DecodeWorkers, OptionName.Fold, OptionName.Lookahead, OptionName.MaxDetections, OptionName.MaxLighting, OptionName.MaxMembers, OptionName.MaxWarp,
        OptionName.MinScale, OptionName.MinZoom, OptionName.PAffine, OptionName.PFlip, OptionName.PLighting, OptionName.Prefetch,
        OptionName.ProgressiveRampFraction, OptionName.Shard, OptionName.Workers,
    };

    /// <summary>The message of <paramref name="e"/> with the option named by its flag (or its library name when it has none).</summary>
    public static string Message(OptionException e) => $"{(Flags.TryGetValue(e.Option, out string? flag) ? flag : e.Option.ToString())} {e.Problem}";
}
