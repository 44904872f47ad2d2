using System.ComponentModel;
using Lumen.Inference;
using Spectre.Console.Cli;

namespace Lumen.Cli;

/// <summary>The options every command that uses an exported model shares: the file and the device.</summary>
internal class ModelSettings : CommandSettings
{
    [CommandArgument(0, "<model>")]
    [Description("A .lumen model file")]
    public string Model { get; init; } = "";

    [CommandOption("--device <DEVICE>")]
    [Description("auto, cpu, cuda or cuda:N")]
    [DefaultValue("auto")]
    public string Device { get; init; } = "auto";

    /// <summary>Loads the model for prediction on the chosen device.</summary>
    public Predictor LoadPredictor() => Predictor.Load(Model, Lumen.Models.Devices.Parse(Device));
}
