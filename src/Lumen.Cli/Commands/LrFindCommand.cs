using Lumen.Workflows;
using System.ComponentModel;
using Lumen.Data;
using Lumen.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen lr-find</c>: the learning-rate finder on the frozen pretrained model.</summary>
internal sealed class LrFindCommand : Command<LrFindCommand.Settings>
{
    internal sealed class Settings : TrainSettings
    {
        [CommandOption("-o|--out <FILE>")]
        [Description("PNG plot to write (default lr_find.png)")]
        [DefaultValue("lr_find.png")]
        public string Out { get; init; } = "lr_find.png";

        [CommandOption("--iterations <N>")]
        [Description("Batches in the sweep (default 100)")]
        [DefaultValue(100)]
        public int Iterations { get; init; } = 100;
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        DataOptions options = settings.ToDataOptions();
        var device = settings.ResolveDevice();
        var result = ConsoleProgress.Run(progress =>
        {
            var dls = settings.Load(options, progress, device);
            // The batch size train would choose, so the suggestion fits the run it is for.
            if (options.Loader.BatchSize is null) dls = dls.WithLoader(dls.Options.Loader with { BatchSize = SmallDataDefaults.BatchSize(dls.Train.Items.Count) });
            var learner = VisionLearner.Create(dls, settings.Arch, weights: settings.Weights, options: settings.ToTrainingOptions(), head: settings.ToHeadOptions(), progress: progress,
                callbacks: settings.ToCallbackOptions().Build(dls.Options.Item.Size));
            return learner.LrFind(iterations: settings.Iterations);
        });
        TrainingPlots.LrFind(result, settings.Out);
        Say.Line($"suggested learning rates: valley {result.Valley:0.##e0} (use this), minimum/10 {result.Minimum:0.##e0}, steep {result.Steep:0.##e0}");
        Say.Line($"plot written to {Path.GetFullPath(settings.Out)}");
        return 0;
    }
}
