using System.ComponentModel;
using Lumen.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

namespace Lumen.Cli.Commands;

/// <summary>
/// <c>lumen serve</c>: the upload page and JSON API for a model. Settings come from appsettings.json in
/// the current folder, LUMEN__SERVER__* environment variables and ASPNETCORE_URLS, and the flags given
/// here override them.
/// </summary>
internal sealed class ServeCommand : Command<ServeCommand.Settings>
{
    internal sealed class Settings : ModelSettings
    {
        [CommandOption("--urls <URLS>")]
        [Description("Where to listen (default: ASPNETCORE_URLS, else http://127.0.0.1:5000, loopback only; use http://0.0.0.0:5000 behind a load balancer)")]
        public string? Urls { get; init; }

        [CommandOption("--max-request-mb <MB>")]
        [Description("Largest accepted upload in MB (default 10)")]
        public double? MaxRequestMb { get; init; }

        [CommandOption("--max-batch <N>")]
        [Description("Most images in one forward pass (default 16)")]
        public int? MaxBatch { get; init; }

        [CommandOption("--batch-wait-ms <MS>")]
        [Description("How long a request waits for others to share its forward pass (default 5)")]
        public double? BatchWaitMs { get; init; }

        [CommandOption("--queue-capacity <N>")]
        [Description("Requests allowed to wait for the model before new ones get 503 (default 64)")]
        public int? QueueCapacity { get; init; }

        [CommandOption("--tta <N>")]
        [Description("Test-time augmentation passes per prediction (default 0; N passes cost N + 1 forward passes)")]
        public int? Tta { get; init; }

        [CommandOption("-v|--verbose")]
        [Description("Also log ASP.NET Core's own lines (about eight per request); by default one line per request")]
        public bool? Verbose { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.MaxRequestMb <= 0) throw new LumenException($"--max-request-mb must be positive, got {settings.MaxRequestMb}");
        // Fail on a bad model file or engine name before binding the port.
        Lumen.Inference.ModelFile.ReadInfo(settings.Model);
        var engine = settings.Engine is null ? (Lumen.Inference.InferenceEngine?)null : settings.ParsedEngine;
        var precision = settings.Precision is null ? (Lumen.Inference.InferencePrecision?)null : settings.ParsedPrecision;
        // Only the flags given override the configuration.
        void Flags(ServerOptions o)
        {
            o.ModelPath = settings.Model;
            if (settings.MaxRequestMb is { } mb) o.MaxRequestBytes = (long)(mb * 1024 * 1024);
            if (settings.MaxBatch is { } batch) o.MaxBatch = batch;
            if (settings.BatchWaitMs is { } wait) o.BatchWait = TimeSpan.FromMilliseconds(wait);
            if (settings.QueueCapacity is { } capacity) o.QueueCapacity = capacity;
            if (settings.Device is { } device) o.Device = device;
            if (engine is { } e) o.Engine = e;
            if (precision is { } p) o.Precision = p;
            if (settings.Threads is { } threads) o.Threads = threads;
            if (settings.Verbose is { } verbose) o.Verbose = verbose;
            if (settings.Tta is { } tta) o.Tta = tta;
        }
        WebApplication app;
        try
        {
            app = LumenServer.Build(Flags, settings.Urls);
        }
        catch (OptionsValidationException e)
        {
            throw new LumenException($"invalid server setting: {string.Join("; ", e.Failures)} (section {ServerOptions.Section}: appsettings.json, LUMEN__SERVER__* variables or the flags)");
        }
        app.Start();
        Say.Line($"serving {Path.GetFileName(settings.Model)} on {string.Join(", ", app.Urls)} "
                 + "(page at /, API at /api/predict, OpenAPI at /openapi.json, metrics at /metrics, health at /healthz and /readyz); Ctrl+C stops");
        app.WaitForShutdown();
        return 0;
    }
}
