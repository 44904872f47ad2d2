using System.ComponentModel;
using Lumen.Inference;
using Spectre.Console.Cli;

namespace Lumen.Cli.Options;

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

    [CommandOption("--precision <P>")]
    [Description("auto (default: float32, the measured safe choice), float32, bfloat16 (torch engine) or int8 (onnx engine: about 1.8x faster, about 1 point less accurate on the brain-MRI sample)")]
    public string? Precision { get; init; }


    /// <summary>The precision named by --precision, or the command's default.</summary>
    public InferencePrecision ParsedPrecision => Precision?.ToLowerInvariant() switch
    {
        null => InferencePrecision.Auto,
        "auto" => InferencePrecision.Auto,
        "float32" or "fp32" => InferencePrecision.Float32,
        "bfloat16" or "bf16" => InferencePrecision.BFloat16,
        "int8" => InferencePrecision.Int8,
        _ => throw new LumenException($"--precision must be auto, float32, bfloat16 or int8, got '{Precision}'"),
    };

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
        Predictor.Load(Model, new PredictorOptions { Device = Lumen.Models.Devices.Parse(Device ?? "auto"), Engine = ParsedEngine, Precision = ParsedPrecision, Threads = Threads ?? 0 });
}
