using System.ComponentModel;
using Lumen.Inference;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen export</c>: a model file to ONNX.</summary>
internal sealed class ExportCommand : Command<ExportCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<model>")]
        [Description("A .lumen model file")]
        public string Model { get; init; } = "";

        [CommandOption("--onnx <FILE>")]
        [Description("ONNX file to write (input N×3×size×size normalised float; outputs logits and probabilities)")]
        public string? Onnx { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Onnx is null) throw new LumenException("lumen export needs a target: --onnx model.onnx");
        using var loaded = ModelFile.Load(settings.Model);
        OnnxExport.Write(loaded, settings.Onnx);
        var p = loaded.Info.Preprocessing;
        Say.Line($"wrote {Path.GetFullPath(settings.Onnx)}: input 'input' [batch, 3, {p.Size}, {p.Size}], outputs 'logits' and 'probabilities' [batch, {loaded.Info.Classes.Count}]");
        Say.Line($"preprocessing (also in the file's metadata): resize {p.ResizeMethod} to {p.Size}, pixels/255 × {p.Normalization.Scale}{(p.Normalization.Bgr ? ", BGR order" : "")}, minus mean [{string.Join(", ", p.Normalization.Mean)}], divided by std [{string.Join(", ", p.Normalization.Std)}]");
        return 0;
    }
}
