using Lumen.Tests.Support;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Lumen.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Lumen.Tests;

/// <summary>
/// API keys, per-client limits and the request timeout, through the real server: Kestrel on a
/// loopback port and HTTP clients, as a proxy in front of Lumen would talk to it.
/// </summary>
public class ServerAccessTests(ServedModelFixture model) : IClassFixture<ServedModelFixture>
{
    private const string KeyA = "key-alpha-0123456789";
    private const string KeyB = "key-bravo-9876543210";

    private async Task<(WebApplication App, Uri Url)> Start(Action<ServerOptions> configure)
    {
        var builder = LumenServer.CreateBuilder(o =>
        {
            o.ModelPath = model.ModelPath;
            o.Device = "cpu";
            configure(o);
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        LumenServer.Map(app);
        await app.StartAsync();
        return (app, new Uri(app.Urls.First()));
    }

    private static HttpClient Client(Uri url, string? key = null)
    {
        var client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null) client.DefaultRequestHeaders.Add("X-Api-Key", key);
        return client;
    }

    private ByteArrayContent Image()
    {
        var content = new ByteArrayContent(model.Image("red", 0));
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return content;
    }

    private static async Task<JsonElement> Problem(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.Clone();
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task ApiKeysGuardTheApiButNotHealthOrThePage()
    {
        var (app, url) = await Start(o => o.ApiKeys = new[] { KeyA, KeyB });
        await using var _ = app;
        using var anonymous = Client(url);
        using var wrong = Client(url, "key-alpha-0123456788");
        using var valid = Client(url, KeyB);

        var missing = await anonymous.PostAsync("/api/predict", Image());
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("ApiKey header=\"X-Api-Key\"", missing.Headers.WwwAuthenticate.ToString());
        var problem = await Problem(missing);
        Assert.Equal(401, problem.GetProperty("status").GetInt32());
        Assert.Contains("X-Api-Key", problem.GetProperty("detail").GetString());

        var rejected = await wrong.GetAsync("/api/model");
        Assert.Equal(HttpStatusCode.Unauthorized, rejected.StatusCode);
        Assert.Contains("not valid", (await Problem(rejected)).GetProperty("detail").GetString());

        Assert.Equal(HttpStatusCode.OK, (await valid.PostAsync("/api/predict", Image())).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await valid.GetAsync("/api/model")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/")).StatusCode);
    }

    [Fact]
    public void KeysAreComparedByDigestAndBlankOnesIgnored()
    {
        var ring = new ApiKeyRing(new[] { KeyA, " ", KeyB });
        Assert.True(ring.Required);
        Assert.Equal(0, ring.Identify(KeyA));
        Assert.Equal(1, ring.Identify(KeyB));
        Assert.Null(ring.Identify(KeyA + "x"));
        Assert.Null(ring.Identify(KeyA[..^1]));
        Assert.Null(ring.Identify(""));
        Assert.Null(ring.Identify(null));
        Assert.False(new ApiKeyRing(new[] { "", "  " }).Required);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task AnAbusiveClientGets429WithRetryAfterWhileAnotherKeepsBeingServed()
    {
        var (app, url) = await Start(o =>
        {
            o.ApiKeys = new[] { KeyA, KeyB };
            o.RateLimit = 3;
            o.RateLimitWindow = TimeSpan.FromMinutes(5);
        });
        await using var _ = app;
        using var abusive = Client(url, KeyA);
        using var polite = Client(url, KeyB);
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (int i = 0; i < 6; i++)
        {
            var response = await abusive.PostAsync("/api/predict", Image());
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refused ??= response;
        }
        Assert.Equal(new[] { HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK }, statuses.Take(3));
        Assert.All(statuses.Skip(3), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        int retryAfter = (int)refused!.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
        Assert.InRange(retryAfter, 1, 300);
        var problem = await Problem(refused);
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Contains("3 requests per 300 s", problem.GetProperty("detail").GetString());

        // The other client has its own allowance; health checks are never limited.
        Assert.Equal(HttpStatusCode.OK, (await polite.PostAsync("/api/predict", Image())).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await abusive.GetAsync("/healthz")).StatusCode);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task WithoutKeysEachAddressIsAClient()
    {
        var (app, url) = await Start(o =>
        {
            o.RateLimit = 2;
            o.RateLimitWindow = TimeSpan.FromMinutes(5);
        });
        await using var _ = app;
        using var client = Client(url);
        using var sameAddress = Client(url);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/model")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await sameAddress.GetAsync("/api/model")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await client.GetAsync("/api/model")).StatusCode);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task AClientOverItsConcurrencyCapIsRefusedAtOnce()
    {
        // Each prediction waits 5 s for a batch to fill, so the first is still in progress when the
        // second arrives a second later (with 300 ms and 1 s, a loaded CI machine sent the second first).
        var (app, url) = await Start(o =>
        {
            o.ConcurrentRequestsPerClient = 1;
            o.BatchWait = TimeSpan.FromSeconds(5);
        });
        await using var _ = app;
        using var client = Client(url);
        var first = client.PostAsync("/api/predict", Image());
        await Task.Delay(1000);
        var second = await client.PostAsync("/api/predict", Image());
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Contains("1 at a time", (await Problem(second)).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task ARequestOverTheTimeoutGets504AndTheServerGoesOn()
    {
        var (app, url) = await Start(o =>
        {
            o.RequestTimeout = TimeSpan.FromMilliseconds(300);
            o.BatchWait = TimeSpan.FromSeconds(3);
        });
        await using var _ = app;
        using var client = Client(url);
        var response = await client.PostAsync("/api/predict", Image());
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var problem = await Problem(response);
        Assert.Equal("Timed out", problem.GetProperty("title").GetString());
        Assert.Contains("0.3 s", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
    }
}
