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

    [CommandOption("--engine <ENGINE>")]
    [Description("auto (ONNX Runtime where it runs the model on the CPU, else torch), onnx or torch")]
    [DefaultValue("auto")]
    public string Engine { get; init; } = "auto";

    [CommandOption("--threads <N>")]
    [Description("Threads of one forward pass under the onnx engine (default 0: one per core)")]
    [DefaultValue(0)]
    public int Threads { get; init; }

    /// <summary>The engine named by --engine.</summary>
    public InferenceEngine ParsedEngine => ParseEngine(Engine);

    /// <summary>Parses an engine name (auto, onnx, torch).</summary>
    public static InferenceEngine ParseEngine(string name) => name.ToLowerInvariant() switch
    {
        "auto" => InferenceEngine.Auto,
        "onnx" => InferenceEngine.Onnx,
        "torch" => InferenceEngine.Torch,
        _ => throw new LumenException($"--engine must be auto, onnx or torch, got '{name}'"),
    };

    /// <summary>Loads the model for prediction on the chosen device and engine.</summary>
    public Predictor LoadPredictor() =>
        Predictor.Load(Model, new PredictorOptions { Device = Lumen.Models.Devices.Parse(Device), Engine = ParsedEngine, Threads = Threads });
}
