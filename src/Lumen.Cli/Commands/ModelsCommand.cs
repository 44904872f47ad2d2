using Lumen.Models;
using TorchSharp;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen models</c>: the architecture registry with parameter counts and available weights.</summary>
internal sealed class ModelsCommand : Command<ModelsCommand.Settings>
{
    internal sealed class Settings : CommandSettings { }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // Bodies are built on the meta device: shapes only, no memory and no random initialisation, so
        // counting all sixteen takes well under a second instead of initialising ~600M weights. The
        // default device is process-wide, which is fine in a one-command process.
        var rows = new List<(Architecture Arch, long Params)>();
        torch.set_default_device(torch.META);
        try
        {
            foreach (var arch in Architectures.All)
            {
                using var body = arch.CreateBody();
                rows.Add((arch, body.parameters().Sum(p => p.numel())));
            }
        }
        finally
        {
            torch.set_default_device(torch.CPU);
        }
        var table = new Table().AddColumns("architecture", "family", "body params", "features", "pretrained weights");
        table.Columns[2].RightAligned();
        table.Columns[3].RightAligned();
        foreach (var (arch, count) in rows)
        {
            var weights = new List<string>();
            if (arch.HasMlNetWeights) weights.Add("imagenet-mlnet (offline, default)");
            bool cached = File.Exists(Path.Combine(LumenHome.Weights, arch.TorchvisionFile));
            weights.Add(cached ? "imagenet (cached)" : "imagenet (download)");
            table.AddRow(arch.Name, arch.Family, $"{count / 1e6:F1}M", arch.Features.ToString(), Markup.Escape(string.Join("; ", weights)));
        }
        AnsiConsole.Write(table);
        Say.Line($"imagenet = torchvision's weights, downloaded once into {LumenHome.Weights} (LUMEN_HOME moves it); offline, pass --weights <file.pth>.");
        return 0;
    }
}
