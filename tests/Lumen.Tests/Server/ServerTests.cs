using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Server;
using Lumen.Tests.Support;
using Lumen.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SkiaSharp;

namespace Lumen.Tests;

/// <summary>A tiny model trained once for all server tests.</summary>
public sealed class ServedModelFixture : IDisposable
{
    public ServedModelFixture()
    {
        Folder = new TempFolder();
        Folder.AddClasses(new[] { "red", "green" }, 8, size: 40);
        var data = ImageDataLoaders.FromFolder(Folder.Path, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4 }, Augment = AugmentOptions.None });
        var learner = VisionLearner.Create(data, "resnet18", pretrained: false);
        learner.FitOneCycle(1, 1e-3);
        ModelPath = Folder.File("model.lumen");
        learner.Export(ModelPath);
    }

    public TempFolder Folder { get; }

    public string ModelPath { get; }

    public byte[] Image(string cls, int i) => File.ReadAllBytes(Folder.File(cls, $"img{i:D3}.png"));

    public void Dispose() => Folder.Dispose();
}

public class ServerTests(ServedModelFixture model) : IClassFixture<ServedModelFixture>
{
    private async Task<(WebApplication App, HttpClient Client)> Start(Action<ServerOptions>? configure = null)
    {
        var builder = LumenServer.CreateBuilder(o =>
        {
            o.ModelPath = model.ModelPath;
            o.Device = "cpu";
            configure?.Invoke(o);
        });
        builder.WebHost.UseTestServer();
        var app = builder.Build();
        LumenServer.Map(app);
        await app.StartAsync();
        return (app, app.GetTestClient());
    }

    private static MultipartFormDataContent Upload(byte[] bytes, string name = "img.png")
    {
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "file", name);
        return form;
    }

    [Fact]
    public async Task PredictsAnUploadAndARawBodyLikeThePredictor()
    {
        var (app, client) = await Start();
        await using var _ = app;
        using var predictor = Predictor.Load(model.ModelPath);
        var expected = predictor.Predict(model.Folder.File("red", "img000.png"));

        var response = await client.PostAsync("/api/predict", Upload(model.Image("red", 0)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        Assert.Equal(expected.Label, root.GetProperty("label").GetString());
        Assert.Equal(2, root.GetProperty("probabilities").GetArrayLength());
        Assert.Equal(expected.Probability, root.GetProperty("probability").GetSingle(), 4);
        Assert.Equal("model.lumen", root.GetProperty("model").GetString());
        Assert.True(root.GetProperty("elapsedMs").GetDouble() >= 0);

        var raw = await client.PostAsync("/api/predict", new ByteArrayContent(model.Image("red", 0)));
        Assert.Equal(expected.Label, (await raw.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("label").GetString());
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task TestTimeAugmentationOnServeGivesThePredictorsTtaProbabilities()
    {
        var (app, client) = await Start(o => o.Tta = 2);
        await using var _ = app;
        using var predictor = Predictor.Load(model.ModelPath);
        var expected = predictor.Predict(model.Folder.File("green", "img002.png"), tta: 2);
        var plain = predictor.Predict(model.Folder.File("green", "img002.png"));
        var root = await (await client.PostAsync("/api/predict", Upload(model.Image("green", 2)))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(expected.Probability, root.GetProperty("probability").GetSingle(), 4);
        Assert.NotEqual(plain.Probability, expected.Probability);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task GradCamAddsAPng()
    {
        var (app, client) = await Start();
        await using var _ = app;
        var response = await client.PostAsync("/api/predict?gradcam=true", Upload(model.Image("green", 1)));
        var root = await response.Content.ReadFromJsonAsync<JsonElement>();
        byte[] png = Convert.FromBase64String(root.GetProperty("gradcam").GetString()!);
        Assert.Equal(32, Lumen.Imaging.ImageDecoder.Decode(png, "gradcam").Width);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task ModelHealthReadinessOpenApiAndPage()
    {
        var (app, client) = await Start();
        await using var _ = app;
        var info = await client.GetFromJsonAsync<JsonElement>("/api/model");
        Assert.Equal("resnet18", info.GetProperty("architecture").GetString());
        Assert.Equal(new[] { "green", "red" }, info.GetProperty("classes").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
        string openapi = await client.GetStringAsync("/openapi.json");
        Assert.Contains("/api/predict", openapi);
        // Typed schemas, not "object": the answer's fields and every error as problem details.
        using var doc = JsonDocument.Parse(openapi);
        var schemas = doc.RootElement.GetProperty("components").GetProperty("schemas");
        Assert.Equal(new[] { "elapsedMs", "gradcam", "label", "labels", "model", "probabilities", "probability" },
            schemas.GetProperty("PredictionResponse").GetProperty("properties").EnumerateObject().Select(p => p.Name).Order());
        Assert.Contains("engine", schemas.GetProperty("ModelResponse").GetProperty("properties").EnumerateObject().Select(p => p.Name));
        var responses = doc.RootElement.GetProperty("paths").GetProperty("/api/predict").GetProperty("post").GetProperty("responses");
        foreach (string status in new[] { "400", "413", "415", "503" })
            Assert.Contains("ProblemDetails", responses.GetProperty(status).GetRawText());
        string page = await client.GetStringAsync("/");
        Assert.Contains("<input id=\"file\"", page);
        Assert.DoesNotContain("http://", page.Replace("http://www.w3.org", ""));
        Assert.DoesNotContain("https://", page);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task BadInputGetsJsonErrorsWithoutStackTraces()
    {
        var (app, client) = await Start(o => { o.MaxRequestBytes = 200_000; o.MaxPixels = 10_000_000; });
        await using var _ = app;

        async Task<(HttpStatusCode Status, JsonElement Body, string Text)> Post(HttpContent content)
        {
            var r = await client.PostAsync("/api/predict", content);
            string text = await r.Content.ReadAsStringAsync();
            Assert.DoesNotContain("   at ", text);
            var body = JsonDocument.Parse(text).RootElement;
            AssertProblem(r, body);
            return (r.StatusCode, body, text);
        }

        var tooBig = await Post(new ByteArrayContent(new byte[300_000]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.Status);
        Assert.Contains("limit", tooBig.Body.GetProperty("detail").GetString());

        var notImage = await Post(Upload("this is plain text"u8.ToArray(), "notes.txt"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, notImage.Status);
        Assert.Contains("not a supported image", notImage.Body.GetProperty("detail").GetString());

        byte[] png = model.Image("red", 2);
        var truncated = await Post(Upload(png[..(png.Length / 2)]));
        Assert.Equal(HttpStatusCode.BadRequest, truncated.Status);
        Assert.Contains("truncated", truncated.Body.GetProperty("detail").GetString());

        var bomb = await Post(Upload(TestImages.PngHeaderOnly(50000, 50000), "../../etc/passwd"));
        Assert.Equal(HttpStatusCode.BadRequest, bomb.Status);
        Assert.Contains("50000x50000", bomb.Body.GetProperty("detail").GetString());

        var empty = await Post(new ByteArrayContent(Array.Empty<byte>()));
        Assert.Equal(HttpStatusCode.BadRequest, empty.Status);

        // A body that grows past the limit without announcing its length (chunked): Kestrel's limit or ours.
        var streamed = new StreamContent(new MemoryStream(new byte[300_000]));
        streamed.Headers.ContentLength = null;
        var streamedAnswer = await Post(streamed);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, streamedAnswer.Status);

        // Routing errors are problems too.
        foreach (var (response, status) in new[] { (await client.GetAsync("/api/nothing-here"), HttpStatusCode.NotFound), (await client.GetAsync("/api/predict"), HttpStatusCode.MethodNotAllowed) })
        {
            Assert.Equal(status, response.StatusCode);
            AssertProblem(response, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);
        }
    }

    /// <summary>RFC 7807: application/problem+json with type, title, status (equal to the response's), detail where we have one, and a trace id.</summary>
    private static void AssertProblem(HttpResponseMessage response, JsonElement body)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.False(string.IsNullOrEmpty(body.GetProperty("type").GetString()));
        Assert.False(string.IsNullOrEmpty(body.GetProperty("title").GetString()));
        Assert.Equal((int)response.StatusCode, body.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("traceId").GetString()));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task ParallelRequestsGiveTheSequentialAnswersAndAreBatched()
    {
        var (app, client) = await Start(o => o.BatchWait = TimeSpan.FromMilliseconds(20));
        await using var _ = app;
        var images = Enumerable.Range(0, 8).SelectMany(i => new[] { model.Image("red", i), model.Image("green", i) }).ToList();
        async Task<string> Ask(byte[] image)
        {
            var r = await client.PostAsync("/api/predict", Upload(image));
            var root = await r.Content.ReadFromJsonAsync<JsonElement>();
            return $"{root.GetProperty("label").GetString()}:{root.GetProperty("probability").GetSingle():F4}";
        }
        var sequential = new List<string>();
        foreach (var image in images) sequential.Add(await Ask(image));
        var queue = app.Services.GetRequiredService<PredictionQueue>();
        long before = queue.Batches;
        var parallel = await Task.WhenAll(images.Select(Ask));
        Assert.Equal(sequential, parallel);
        Assert.True(queue.Batches - before < images.Count, $"{images.Count} parallel requests took {queue.Batches - before} forward passes");
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task AFullQueueAnswers503WithRetryAfter()
    {
        // A queue of one slot and a slow batching wait: a burst must overflow it.
        var (app, client) = await Start(o => { o.QueueCapacity = 1; o.MaxBatch = 1; o.BatchWait = TimeSpan.FromMilliseconds(200); });
        await using var _ = app;
        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => client.PostAsync("/api/predict", Upload(model.Image("red", 3)))));
        var busy = responses.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.NotEmpty(busy);
        Assert.All(busy, r => Assert.Equal("1", r.Headers.GetValues("Retry-After").Single()));
        AssertProblem(busy[0], JsonDocument.Parse(await busy[0].Content.ReadAsStringAsync()).RootElement);
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.OK);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task FuzzedImagesGetClientErrorsNeverServerErrors()
    {
        var (app, client) = await Start();
        await using var _ = app;
        var statuses = new List<string>();
        foreach (var c in new ImageFuzzer(seed: 99).Cases(60))
        {
            var response = await client.PostAsync("/api/predict", new ByteArrayContent(c.Bytes));
            statuses.Add($"{(int)response.StatusCode}");
            Assert.True((int)response.StatusCode < 500, $"case {c.Number} ({c.Format}, {c.Mutations}): {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            if (!response.IsSuccessStatusCode) Assert.Contains("\"detail\"", await response.Content.ReadAsStringAsync());
        }
        Assert.Contains("400", statuses);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task MetricsExposeTheNamedInstrumentsAfterAFewRequests()
    {
        var (app, client) = await Start();
        await using var _ = app;
        for (int i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/predict", Upload(model.Image("green", i)))).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PostAsync("/api/predict", Upload("text"u8.ToArray()))).StatusCode);
        // The exporter collects on scrape; metrics recorded after a response is sent may need a second look.
        string text = "";
        for (int attempt = 0; attempt < 20 && !text.Contains("status=\"415\""); attempt++)
        {
            await Task.Delay(100);
            text = await client.GetStringAsync("/metrics");
        }
        Assert.Matches(@"lumen_server_requests_total\{[^}]*endpoint=""/api/predict""[^}]*status=""200""[^}]*\} 3", text);
        Assert.Matches(@"lumen_server_requests_total\{[^}]*status=""415""", text);
        Assert.Contains("lumen_server_request_duration_seconds_bucket", text);
        Assert.Matches(@"lumen_server_batch_size_count\{[^}]*engine=""onnx""[^}]*\} 3", text);
        Assert.Contains("lumen_server_inference_duration_seconds_bucket", text);
        Assert.Matches(@"lumen_server_queue_depth(\{[^}]*\})? 0", text);
    }

    [Fact]
    public async Task SettingsBindFromConfigurationKeysAndHostFlagsWin()
    {
        // The keys environment variables produce (LUMEN__SERVER__MAXREQUESTBYTES becomes Lumen:Server:MaxRequestBytes).
        var builder = LumenServer.CreateBuilder(o => o.MaxPixels = 777);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Lumen:Server:ModelPath"] = model.ModelPath, ["Lumen:Server:MaxRequestBytes"] = "123456", ["Lumen:Server:MaxPixels"] = "5",
            ["Lumen:Server:Engine"] = "torch", ["Lumen:Server:BatchWait"] = "00:00:00.050", ["Lumen:Server:MaxBatch"] = "3",
        });
        builder.WebHost.UseTestServer();
        await using var app = builder.Build();
        LumenServer.Map(app);
        await app.StartAsync();
        var options = app.Services.GetRequiredService<ServerOptions>();
        Assert.Equal((123456L, 777L, 3, TimeSpan.FromMilliseconds(50)), (options.MaxRequestBytes, options.MaxPixels, options.MaxBatch, options.BatchWait));
        var info = await app.GetTestClient().GetFromJsonAsync<JsonElement>("/api/model");
        Assert.Equal("torch", info.GetProperty("engine").GetString());
        Assert.Equal(123456, info.GetProperty("limits").GetProperty("maxRequestBytes").GetInt64());
    }

    [Fact]
    public void AnInvalidSettingStopsStartUpNamingIt()
    {
        var builder = LumenServer.CreateBuilder(o => { o.ModelPath = model.ModelPath; o.MaxBatch = 0; });
        builder.WebHost.UseTestServer();
        using var app = builder.Build();
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => LumenServer.Map(app));
        Assert.Contains("MaxBatch", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QuietLogsWriteOneLinePerRequestAndVerboseMore(bool verbose)
    {
        var log = new RecordingLoggerProvider();
        var builder = LumenServer.CreateBuilder(o => { o.ModelPath = model.ModelPath; o.Device = "cpu"; o.Verbose = verbose; });
        builder.Logging.AddProvider(log);
        builder.WebHost.UseTestServer();
        await using var app = builder.Build();
        LumenServer.Map(app);
        await app.StartAsync();
        var client = app.GetTestClient();
        int before = log.Lines.Count;
        for (int i = 0; i < 3; i++)
        {
            var response = await client.PostAsync("/api/predict", Upload(model.Image("red", i)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await client.GetAsync("/healthz");
        var lines = log.Lines.Skip(before).ToList();
        var requestLines = lines.Where(l => l.StartsWith("Lumen.Server.Requests:")).ToList();
        Assert.Equal(4, requestLines.Count);
        Assert.Contains(requestLines, l => l.Contains("POST /api/predict 200"));
        // A prediction's line says how big its batch was and which engine ran it.
        Assert.All(requestLines.Where(l => l.Contains("/api/predict")), l => Assert.Matches(@" ms batch \d+ engine onnx float32$", l));
        Assert.DoesNotContain(requestLines, l => l.Contains("img0"));
        if (verbose) Assert.True(lines.Count >= 4 * 3, $"verbose logging wrote only {lines.Count} lines");
        else Assert.True(lines.Count == 4, "quiet logging wrote more than one line per request:\n" + string.Join("\n", lines));
    }
}

/// <summary>Collects "category: message" lines of every log entry at Information or above.</summary>
public sealed class RecordingLoggerProvider : Microsoft.Extensions.Logging.ILoggerProvider
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger(categoryName, Lines);

    public void Dispose() { }

    private sealed class Logger(string category, System.Collections.Concurrent.ConcurrentQueue<string> lines) : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Information;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) lines.Enqueue($"{category}: {formatter(state, exception)}");
        }
    }
}
