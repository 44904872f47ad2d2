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

    // No defaults in the attributes: null means "not given", so `lumen serve` lets its configuration
    // (appsettings.json, LUMEN__SERVER__* variables) decide.
    [CommandOption("--device <DEVICE>")]
    [Description("auto (default), cpu, cuda or cuda:N")]
    public string? Device { get; init; }

    [CommandOption("--engine <ENGINE>")]
    [Description("auto (default: ONNX Runtime where it runs the model on the CPU, else torch), onnx or torch")]
    public string? Engine { get; init; }

    [CommandOption("--threads <N>")]
    [Description("Threads of one forward pass under the onnx engine (default 0: one per core)")]
    public int? Threads { get; init; }

    /// <summary>The engine named by --engine.</summary>
    public InferenceEngine ParsedEngine => ParseEngine(Engine ?? "auto");

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
        Predictor.Load(Model, new PredictorOptions { Device = Lumen.Models.Devices.Parse(Device ?? "auto"), Engine = ParsedEngine, Threads = Threads ?? 0 });
}
