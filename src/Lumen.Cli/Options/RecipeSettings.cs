using System.ComponentModel;
using Lumen.Workflows;
using Spectre.Console.Cli;

namespace Lumen.Cli.Options;

/// <summary>The flags of a whole training recipe, shared by <c>train</c> and <c>cv</c> (which trains it once per fold).</summary>
internal class RecipeSettings : TrainSettings
{
    [CommandOption("--epochs <N>")]
    [Description("Epochs with the whole network unfrozen (fine_tune's epochs; 0 trains the head only; default: chosen from the number of training images, 4 to 12)")]
    public int? Epochs { get; init; }

    [CommandOption("--freeze-epochs <N>")]
    [Description("Epochs training only the head first (default 1)")]
    [DefaultValue(1)]
    public int FreezeEpochs { get; init; } = 1;

    [CommandOption("--lr <LR>")]
    [Description("Base learning rate (default 2e-3), or 'auto' to run the LR finder and use its valley suggestion")]
    [DefaultValue("2e-3")]
    public string Lr { get; init; } = "2e-3";

    [CommandOption("--resume")]
    [Description("Continue the run whose checkpoint is in --out")]
    public bool Resume { get; init; }

    [CommandOption("--early-stopping <PATIENCE>")]
    [Description("Stop when valid_loss has not improved for this many epochs")]
    public int? EarlyStopping { get; init; }

    [CommandOption("--save-best")]
    [Description("Keep the weights of the epoch with the lowest valid_loss")]
    public bool SaveBest { get; init; }

    /// <summary>The library request these flags describe, writing into <paramref name="outputFolder"/>.</summary>
    public TrainRequest ToTrainRequest(string outputFolder) => new()
    {
        Data = ToDataSource(), OutputFolder = outputFolder, DataOptions = ToDataOptions(), Architecture = Arch,
        Weights = Weights, Head = ToHeadOptions(), Training = ToTrainingOptions(), Callbacks = ToCallbackOptions(), Epochs = Epochs, FreezeEpochs = FreezeEpochs,
        Lr = Lr.Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : ParseLr(Lr), Resume = Resume,
        EarlyStopping = EarlyStopping, SaveBest = SaveBest, Device = ResolveDevice(),
    };

    private static double ParseLr(string text) =>
        double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double lr) && lr > 0
            ? lr
            : throw new LumenException($"--lr must be a positive number (e.g. 2e-3) or 'auto', got '{text}'");
}
