using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lumen.Server;

/// <summary>
/// What lets the service face clients it does not trust, all from <see cref="ServerOptions"/>: API
/// keys on the <c>/api/</c> endpoints (401), ASP.NET Core's rate limiting per client (429 with
/// Retry-After: a fixed window of requests and a cap on requests in progress, a client being its
/// API key or, without keys, its address) and a timeout on every request (504). Every refusal is a
/// problem details response. TLS belongs to the proxy in front (see the README's "Exposing Lumen").
/// </summary>
internal static class AccessControl
{
    /// <summary>The paths that need a key and count against a client's limits.</summary>
    private const string ProtectedPrefix = "/api/";

    private static bool IsProtected(HttpContext context) =>
        context.Request.Path.StartsWithSegments(ProtectedPrefix.TrimEnd('/'), StringComparison.OrdinalIgnoreCase);

    /// <summary>Registers the key ring, the rate limiter and the request timeout.</summary>
    public static void AddAccessControl(this IServiceCollection services)
    {
        services.AddSingleton(sp => new ApiKeyRing(sp.GetRequiredService<ServerOptions>().ApiKeys));
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<ServerOptions>, IServiceProvider>((limiter, options, provider) =>
        {
            var o = options.Value;
            var keys = new Lazy<ApiKeyRing>(provider.GetRequiredService<ApiKeyRing>);
            var limiters = new List<PartitionedRateLimiter<HttpContext>>();
            if (o.RateLimit > 0)
                limiters.Add(PartitionedRateLimiter.Create<HttpContext, string>(context => !IsProtected(context)
                    ? RateLimitPartition.GetNoLimiter("open")
                    : RateLimitPartition.GetFixedWindowLimiter(ClientOf(context, keys.Value, o.ApiKeyHeader), _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = o.RateLimit, Window = o.RateLimitWindow, QueueLimit = 0, AutoReplenishment = true,
                    })));
            if (o.ConcurrentRequestsPerClient > 0)
                limiters.Add(PartitionedRateLimiter.Create<HttpContext, string>(context => !IsProtected(context)
                    ? RateLimitPartition.GetNoLimiter("open")
                    : RateLimitPartition.GetConcurrencyLimiter(ClientOf(context, keys.Value, o.ApiKeyHeader), _ => new ConcurrencyLimiterOptions
                    {
                        PermitLimit = o.ConcurrentRequestsPerClient, QueueLimit = 0,
                    })));
            if (limiters.Count > 0) limiter.GlobalLimiter = PartitionedRateLimiter.CreateChained(limiters.ToArray());
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = (rejected, _) =>
            {
                var retry = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan wait) ? wait : TimeSpan.FromSeconds(1);
                int seconds = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds));
                rejected.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                CloseIfBodyUnread(rejected.HttpContext);
                return new ValueTask(WriteProblem(rejected.HttpContext, StatusCodes.Status429TooManyRequests, "Too many requests",
                    $"this client is over its limit ({Limits(o)}); retry after {seconds} s"));
            };
        });
        services.AddRequestTimeouts(_ => { });
        services.AddOptions<RequestTimeoutOptions>().Configure<IOptions<ServerOptions>>((timeouts, options) =>
        {
            var timeout = options.Value.RequestTimeout;
            if (timeout <= TimeSpan.Zero) return;
            timeouts.DefaultPolicy = new RequestTimeoutPolicy
            {
                Timeout = timeout,
                TimeoutStatusCode = StatusCodes.Status504GatewayTimeout,
                WriteTimeoutResponse = context => WriteProblem(context, StatusCodes.Status504GatewayTimeout, "Timed out",
                    $"the request took longer than the limit of {timeout.TotalSeconds:0.###} s"),
            };
        });
    }

    /// <summary>Adds the timeout, the limits and the key check, in that order, to the pipeline.</summary>
    public static void UseAccessControl(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<ServerOptions>();
        var keys = app.Services.GetRequiredService<ApiKeyRing>();
        app.UseRequestTimeouts();
        // Limits before the key check, so a client guessing keys is limited too (by its address).
        app.UseRateLimiter();
        if (!keys.Required) return;
        string challenge = $"ApiKey header=\"{options.ApiKeyHeader}\"";
        app.Use(async (context, next) =>
        {
            if (IsProtected(context) && keys.Identify(context.Request.Headers[options.ApiKeyHeader]) is null)
            {
                bool missing = string.IsNullOrEmpty(context.Request.Headers[options.ApiKeyHeader]);
                context.Response.Headers.WWWAuthenticate = challenge;
                CloseIfBodyUnread(context);
                await WriteProblem(context, StatusCodes.Status401Unauthorized, "Unauthorized",
                    missing ? $"send an API key in the {options.ApiKeyHeader} header" : $"the key in the {options.ApiKeyHeader} header is not valid");
                return;
            }
            await next(context);
        });
    }

    /// <summary>
    /// A refusal leaves the request's body unread, so the connection cannot carry another request:
    /// say so, or the client reuses it and its next request (perhaps another caller's, from a shared
    /// pool) fails mid-way (found by bench … serve-soak --abusive).
    /// </summary>
    private static void CloseIfBodyUnread(HttpContext context)
    {
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
            context.Response.Headers.Connection = "close";
    }

    /// <summary>The partition of a request: its valid API key (by position, never the key itself), else its address.</summary>
    private static string ClientOf(HttpContext context, ApiKeyRing keys, string header) =>
        keys.Identify(context.Request.Headers[header]) is { } key
            ? "key " + key.ToString(CultureInfo.InvariantCulture)
            : "address " + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown");

    private static string Limits(ServerOptions o)
    {
        var parts = new List<string>();
        if (o.RateLimit > 0) parts.Add($"{o.RateLimit} requests per {o.RateLimitWindow.TotalSeconds:0.###} s");
        if (o.ConcurrentRequestsPerClient > 0) parts.Add($"{o.ConcurrentRequestsPerClient} at a time");
        return string.Join(", ", parts);
    }

    private static async Task WriteProblem(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }
}

/// <summary>
/// The configured API keys, kept as SHA-256 digests and compared in constant time: how long a check
/// takes says nothing about how much of a key was right, nor about its length.
/// </summary>
internal sealed class ApiKeyRing
{
    private readonly byte[][] _digests;

    /// <summary>Keeps the digests of <paramref name="keys"/> (blank entries are ignored).</summary>
    public ApiKeyRing(IEnumerable<string> keys) =>
        _digests = keys.Where(k => !string.IsNullOrWhiteSpace(k)).Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k))).ToArray();

    /// <summary>True when keys are configured, so every <c>/api/</c> request needs one.</summary>
    public bool Required => _digests.Length > 0;

    /// <summary>The position of the key <paramref name="presented"/>, or null when it is none of them.</summary>
    public int? Identify(string? presented)
    {
        if (string.IsNullOrEmpty(presented)) return null;
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        int? found = null;
        // Every key is compared, whichever matches, so the time does not depend on which one did.
        for (int i = 0; i < _digests.Length; i++)
            if (CryptographicOperations.FixedTimeEquals(digest, _digests[i])) found ??= i;
        return found;
    }
}
