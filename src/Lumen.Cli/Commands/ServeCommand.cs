using System.ComponentModel;
using Lumen.Server;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen serve</c>: the upload page and JSON API for a model.</summary>
internal sealed class ServeCommand : Command<ServeCommand.Settings>
{
    internal sealed class Settings : ModelSettings
    {
        [CommandOption("--urls <URLS>")]
        [Description("Where to listen (default http://127.0.0.1:5000: loopback only; use http://0.0.0.0:5000 behind a load balancer)")]
        [DefaultValue("http://127.0.0.1:5000")]
        public string Urls { get; init; } = "http://127.0.0.1:5000";

        [CommandOption("--max-request-mb <MB>")]
        [Description("Largest accepted upload in MB (default 10)")]
        [DefaultValue(10.0)]
        public double MaxRequestMb { get; init; } = 10;

        [CommandOption("-v|--verbose")]
        [Description("Also log ASP.NET Core's own lines (about eight per request); by default one line per request")]
        public bool Verbose { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.MaxRequestMb <= 0) throw new LumenException($"--max-request-mb must be positive, got {settings.MaxRequestMb}");
        // Fail on a bad model file before binding the port.
        Lumen.Inference.ModelFile.ReadInfo(settings.Model);
        var app = LumenServer.Build(new ServerOptions { ModelPath = settings.Model, MaxRequestBytes = (long)(settings.MaxRequestMb * 1024 * 1024), Device = settings.Device, Verbose = settings.Verbose }, settings.Urls);
        Say.Line($"serving {Path.GetFileName(settings.Model)} on {settings.Urls} (page at /, API at /api/predict, OpenAPI at /openapi.json); Ctrl+C stops");
        app.Run();
        return 0;
    }
}
