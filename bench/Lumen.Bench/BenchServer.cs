using Lumen.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Lumen.Bench;

/// <summary>The real server (Kestrel on loopback) for load benchmarks, without console logging: a
/// line per request would cost the benchmark and flood its report.</summary>
internal static class BenchServer
{
    public static WebApplication Start(Action<ServerOptions> options, string url)
    {
        var builder = LumenServer.CreateBuilder(options);
        builder.WebHost.UseUrls(url);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        LumenServer.Map(app);
        app.StartAsync().GetAwaiter().GetResult();
        return app;
    }
}
