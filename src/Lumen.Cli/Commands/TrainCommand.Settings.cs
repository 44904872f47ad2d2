using System.ComponentModel;
using Spectre.Console.Cli;

namespace Lumen.Cli.Commands;

internal sealed partial class TrainCommand
{
    internal sealed class Settings : TrainSettings
    {
        [CommandOption("--epochs <N>")]
        [Description("Epochs with the whole network unfrozen (fine_tune's epochs; default 4)")]
        [DefaultValue(4)]
        public int Epochs { get; init; } = 4;

        [CommandOption("--freeze-epochs <N>")]
        [Description("Epochs training only the head first (default 1)")]
        [DefaultValue(1)]
        public int FreezeEpochs { get; init; } = 1;

        [CommandOption("--lr <LR>")]
        [Description("Base learning rate (default 2e-3), or 'auto' to run the LR finder and use its valley suggestion")]
        [DefaultValue("2e-3")]
        public string Lr { get; init; } = "2e-3";

        [CommandOption("-o|--out <DIR>")]
        [Description("Output folder: model.lumen, history.csv/json, plots, checkpoint (default lumen-out)")]
        [DefaultValue("lumen-out")]
        public string Out { get; init; } = "lumen-out";

        [CommandOption("--resume")]
        [Description("Continue the run whose checkpoint is in --out")]
        public bool Resume { get; init; }

        [CommandOption("--early-stopping <PATIENCE>")]
        [Description("Stop when valid_loss has not improved for this many epochs")]
        public int? EarlyStopping { get; init; }

        [CommandOption("--report")]
        [Description("After training, write report.html and the interpretation figures (validation set) into --out")]
        public bool Report { get; init; }

        [CommandOption("--save-best")]
        [Description("Keep the weights of the epoch with the lowest valid_loss")]
        public bool SaveBest { get; init; }
    }
}
