using System.ComponentModel;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;

namespace Lumen.Cli.Commands;

/// <summary>
/// <c>lumen health [url]</c>: exit 0 when a Lumen service answers its health endpoint with 200, else 1.
/// The container's HEALTHCHECK runs it: the ASP.NET runtime image has no curl or wget, and its
/// <c>/bin/sh</c> (dash) has no <c>/dev/tcp</c>.
/// </summary>
internal sealed class HealthCommand : AsyncCommand<HealthCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[url]")]
        [Description("The endpoint to ask (default http://127.0.0.1:5000/healthz; /readyz also checks the model and queue)")]
        public string Url { get; init; } = "http://127.0.0.1:5000/healthz";

        [CommandOption("--timeout-s <SECONDS>")]
        [Description("Give up after this many seconds (default 3)")]
        [DefaultValue(3.0)]
        public double TimeoutSeconds { get; init; } = 3;
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(settings.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new LumenException($"'{settings.Url}' is not an http(s) URL");
        if (settings.TimeoutSeconds <= 0) throw new LumenException($"--timeout-s must be positive, got {settings.TimeoutSeconds}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(settings.TimeoutSeconds) };
        try
        {
            using var response = await http.GetAsync(url, cancellationToken);
            string body = (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
            Say.Line($"{(int)response.StatusCode} {body}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Say.Line($"unhealthy: {url} did not answer ({e.Message})");
            return 1;
        }
    }
}
