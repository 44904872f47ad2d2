using System.ComponentModel;
using Lumen.Inference;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen export</c>: a model file to ONNX, and/or code that uses it (a console program and a web endpoint).</summary>
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

        [CommandOption("--csharp <DIR>")]
        [Description("Write a console program (DIR/console) and an ASP.NET Core endpoint (DIR/web) that load the model through the Lumen package and predict")]
        public string? CSharp { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Onnx is null && settings.CSharp is null) throw new LumenException("lumen export needs a target: --onnx model.onnx and/or --csharp folder");
        if (settings.CSharp is { } folder)
        {
            ConsumptionCode.Write(settings.Model, folder, Program.Version);
            string full = Path.GetFullPath(folder);
            Say.Line($"wrote {Path.Combine(full, "console")} (cd there; dotnet run -- image.jpg) and {Path.Combine(full, "web")} (dotnet run; POST an image to /predict)");
            Say.Line($"both reference the Lumen {Program.Version} package and TorchSharp-cpu {ConsumptionCode.TorchSharpVersion}; add your Lumen package folder as a NuGet source if it is not on a feed");
        }
        if (settings.Onnx is not { } onnx) return 0;
        using var loaded = ModelFile.Load(settings.Model);
        OnnxExport.Write(loaded, onnx);
        var p = loaded.Info.Preprocessing;
        Say.Line($"wrote {Path.GetFullPath(onnx)}: input 'input' [batch, 3, {p.Size}, {p.Size}], outputs 'logits' and 'probabilities' [batch, {loaded.Info.Classes.Count}]");
        Say.Line($"preprocessing (also in the file's metadata): resize {p.ResizeMethod} to {p.Size}, pixels/255 × {p.Normalization.Scale}{(p.Normalization.Bgr ? ", BGR order" : "")}, minus mean [{string.Join(", ", p.Normalization.Mean)}], divided by std [{string.Join(", ", p.Normalization.Std)}]");
        return 0;
    }
}
