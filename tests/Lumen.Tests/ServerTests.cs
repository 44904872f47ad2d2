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
        ModelFile.Export(learner, ModelPath);
    }

    public TempFolder Folder { get; }

    public string ModelPath { get; }

    public byte[] Image(string cls, int i) => File.ReadAllBytes(Folder.File(cls, $"img{i:D3}.png"));

    public void Dispose() => Folder.Dispose();
}

public class ServerTests(ServedModelFixture model) : IClassFixture<ServedModelFixture>
{
    private async Task<(WebApplication App, HttpClient Client)> Start(Func<ServerOptions, ServerOptions>? configure = null)
    {
        var options = new ServerOptions { ModelPath = model.ModelPath, Device = "cpu" };
        if (configure is not null) options = configure(options);
        var builder = LumenServer.CreateBuilder(options);
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
        string page = await client.GetStringAsync("/");
        Assert.Contains("<input id=\"file\"", page);
        Assert.DoesNotContain("http://", page.Replace("http://www.w3.org", ""));
        Assert.DoesNotContain("https://", page);
    }

    [Fact]
    public async Task BadInputGetsJsonErrorsWithoutStackTraces()
    {
        var (app, client) = await Start(o => o with { MaxRequestBytes = 200_000, MaxPixels = 10_000_000 });
        await using var _ = app;

        async Task<(HttpStatusCode Status, JsonElement Body, string Text)> Post(HttpContent content)
        {
            var r = await client.PostAsync("/api/predict", content);
            string text = await r.Content.ReadAsStringAsync();
            Assert.DoesNotContain("   at ", text);
            return (r.StatusCode, JsonDocument.Parse(text).RootElement, text);
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
    }

    [Fact]
    public async Task ParallelRequestsGiveTheSequentialAnswersAndAreBatched()
    {
        var (app, client) = await Start(o => o with { BatchWait = TimeSpan.FromMilliseconds(20) });
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

    [Fact]
    public async Task AFullQueueAnswers503WithRetryAfter()
    {
        // A queue of one slot and a slow batching wait: a burst must overflow it.
        var (app, client) = await Start(o => o with { QueueCapacity = 1, MaxBatch = 1, BatchWait = TimeSpan.FromMilliseconds(200) });
        await using var _ = app;
        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => client.PostAsync("/api/predict", Upload(model.Image("red", 3)))));
        var busy = responses.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.NotEmpty(busy);
        Assert.All(busy, r => Assert.Equal("1", r.Headers.GetValues("Retry-After").Single()));
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.OK);
    }

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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QuietLogsWriteOneLinePerRequestAndVerboseMore(bool verbose)
    {
        var log = new RecordingLoggerProvider();
        var options = new ServerOptions { ModelPath = model.ModelPath, Device = "cpu", Verbose = verbose };
        var builder = LumenServer.CreateBuilder(options);
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
