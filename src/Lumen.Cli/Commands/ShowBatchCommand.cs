using System.ComponentModel;
using Lumen.Data;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen show-batch</c>: a PNG grid of a batch as the model sees it.</summary>
internal sealed class ShowBatchCommand : Command<ShowBatchCommand.Settings>
{
    internal sealed class Settings : DataSettings
    {
        [CommandOption("-o|--out <FILE>")]
        [Description("PNG file to write (default batch.png)")]
        [DefaultValue("batch.png")]
        public string Out { get; init; } = "batch.png";

        [CommandOption("-n|--count <COUNT>")]
        [Description("Number of images to show (default 16)")]
        [DefaultValue(16)]
        public int Count { get; init; } = 16;

        [CommandOption("--valid")]
        [Description("Show a validation batch (never augmented) instead of a training batch")]
        public bool Valid { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Count < 1) throw new LumenException($"--count must be at least 1, got {settings.Count}");
        DataOptions options = settings.ToDataOptions();
        options = options with { Loader = options.Loader with { BatchSize = Math.Max(settings.Count, 1) } };
        var dls = ConsoleProgress.Run(progress => settings.Load(options, progress));
        var grid = dls.ShowBatch(settings.Count, training: !settings.Valid);
        grid.SavePng(settings.Out);
        Say.Line($"wrote {Path.GetFullPath(settings.Out)} ({grid.Width}x{grid.Height}, {Math.Min(settings.Count, (settings.Valid ? dls.Valid : dls.Train).Items.Count)} images, augmentation '{settings.AugPreset}')");
        return 0;
    }
}
