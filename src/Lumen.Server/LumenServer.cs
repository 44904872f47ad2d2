using System.Diagnostics;
using Lumen.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using BadHttpRequestException = Microsoft.AspNetCore.Http.BadHttpRequestException;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lumen.Server;

/// <summary>
/// The web service: an upload page, a JSON prediction API with micro-batching, model information,
/// health and readiness probes and an OpenAPI document. Stateless: replicas scale horizontally.
/// </summary>
public static class LumenServer
{
    /// <summary>Creates the builder with Lumen's services; call <see cref="Map"/> on the built app.</summary>
    public static WebApplicationBuilder CreateBuilder(ServerOptions options, string[]? args = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args ?? Array.Empty<string>());
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(_ => Predictor.Load(options.ModelPath, Models.Devices.Parse(options.Device)));
        builder.Services.AddSingleton(sp => new PredictionQueue(sp.GetRequiredService<Predictor>(), options));
        builder.Services.Configure<KestrelServerOptions>(k => k.Limits.MaxRequestBodySize = options.MaxRequestBytes);
        builder.Services.Configure<FormOptions>(f => f.MultipartBodyLengthLimit = options.MaxRequestBytes);
        builder.Services.AddOpenApi();
        builder.Services.AddProblemDetails();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console => { console.SingleLine = true; console.TimestampFormat = "HH:mm:ss "; });
        if (!options.Verbose)
        {
            // The framework's per-request lines drown the one line Lumen writes; start-up and warnings stay.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        }
        return builder;
    }

    /// <summary>Builds a ready-to-run app on <paramref name="urls"/> (default: loopback only).</summary>
    public static WebApplication Build(ServerOptions options, string urls = "http://127.0.0.1:5000")
    {
        var builder = CreateBuilder(options);
        builder.WebHost.UseUrls(urls);
        var app = builder.Build();
        Map(app);
        return app;
    }

    /// <summary>Adds the middleware and endpoints. The model is loaded here, so a bad file fails at start-up.</summary>
    public static void Map(WebApplication app)
    {
        var options = app.Services.GetRequiredService<ServerOptions>();
        var predictor = app.Services.GetRequiredService<Predictor>();
        var queue = app.Services.GetRequiredService<PredictionQueue>();
        app.Lifetime.ApplicationStopped.Register(() => queue.DisposeAsync().AsTask().Wait());

        // One line per request: method, path, status and time (never the image or the query string).
        var requests = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Lumen.Server.Requests");
        app.Use(async (context, next) =>
        {
            long start = Stopwatch.GetTimestamp();
            try
            {
                await next(context);
            }
            finally
            {
                requests.LogInformation("{Method} {Path} {Status} {ElapsedMs:F1} ms", context.Request.Method, context.Request.Path.Value,
                    context.Response.StatusCode, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        });

        // Never a stack trace in a response: unexpected errors become a generic JSON problem.
        app.UseExceptionHandler(errors => errors.Run(async context =>
        {
            var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (status, detail) = error is BadHttpRequestException bad && bad.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? (413, $"the request is larger than the limit of {options.MaxRequestBytes / (1024 * 1024.0):0.#} MB")
                : (500, "internal error while predicting; see the server log");
            context.Response.StatusCode = status;
            await context.Response.WriteAsJsonAsync(new { title = status == 413 ? "Payload too large" : "Internal error", status, detail });
        }));

        app.MapOpenApi("/openapi.json");
        app.MapGet("/", () => Results.Content(Page.Value, "text/html; charset=utf-8")).ExcludeFromDescription();
        app.MapGet("/healthz", () => Results.Ok(new { status = "ok" })).WithSummary("Liveness: the process is up");
        app.MapGet("/readyz", () => queue.Pending < options.QueueCapacity
            ? Results.Ok(new { status = "ready", pending = queue.Pending })
            : Results.Json(new { status = "saturated", pending = queue.Pending }, statusCode: 503)).WithSummary("Readiness: the model is loaded and the queue has room");
        app.MapGet("/api/model", () => Results.Ok(ModelDescription(predictor, options))).WithSummary("The served model: classes, architecture, metrics, preprocessing");
        app.MapPost("/api/predict", (HttpContext context, bool? gradcam) => Predict(context, gradcam ?? false, predictor, queue, options))
            .WithSummary("Classify an image: multipart field 'file', or the raw image bytes as the body")
            .DisableAntiforgery();
    }

    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(LumenServer).Assembly.GetManifestResourceStream("Lumen.Server.index.html")!;
        return new StreamReader(stream).ReadToEnd();
    });

    /// <summary>What /api/model returns.</summary>
    internal static object ModelDescription(Predictor predictor, ServerOptions options)
    {
        var info = predictor.Info;
        var p = info.Preprocessing;
        return new
        {
            model = Path.GetFileName(options.ModelPath),
            architecture = info.Spec.Architecture,
            weights = info.Spec.Weights,
            classes = info.Classes,
            multiLabel = info.MultiLabel,
            threshold = info.Threshold,
            metrics = info.Training.Metrics,
            trained = info.Training.CreatedUtc,
            preprocessing = new { size = p.Size, resize = p.ResizeMethod.ToString().ToLowerInvariant(), mean = p.Normalization.Mean, std = p.Normalization.Std, scale = p.Normalization.Scale, bgr = p.Normalization.Bgr },
            limits = new { maxRequestBytes = options.MaxRequestBytes, maxPixels = options.MaxPixels },
        };
    }

    private static readonly SemaphoreSlim Decoders = new(Environment.ProcessorCount);

    private static IResult Problem(int status, string title, string detail) =>
        Results.Json(new { title, status, detail }, statusCode: status, contentType: "application/problem+json");

    private static async Task<IResult> Predict(HttpContext context, bool gradCam, Predictor predictor, PredictionQueue queue, ServerOptions options)
    {
        var clock = Stopwatch.StartNew();
        if (context.Request.ContentLength > options.MaxRequestBytes)
        {
            // The body is left unread, so this connection cannot carry another request: say so, or the
            // client reuses it and its next request fails with a broken pipe (found by bench … serve-soak).
            context.Response.Headers.Connection = "close";
            return Problem(413, "Payload too large", $"the request has {context.Request.ContentLength:N0} bytes; the limit is {options.MaxRequestBytes:N0}");
        }
        byte[]? bytes;
        string name;
        try
        {
            (bytes, name) = await ReadImageAsync(context, options.MaxRequestBytes);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == 413)
        {
            context.Response.Headers.Connection = "close";
            return Problem(413, "Payload too large", $"the request is larger than the limit of {options.MaxRequestBytes:N0} bytes");
        }
        catch (InvalidDataException e)
        {
            return Problem(400, "Bad request", $"the multipart form cannot be read: {e.Message}");
        }
        if (bytes is null)
        {
            context.Response.Headers.Connection = "close";
            return Problem(413, "Payload too large", $"the image is larger than the limit of {options.MaxRequestBytes:N0} bytes");
        }
        if (bytes.Length == 0) return Problem(400, "No image", "send an image as the multipart field 'file' or as the request body");

        Imaging.RgbImage prepared;
        // A decode may hold MaxPixels × 8 bytes for a moment; as many at once as there are cores bounds
        // the memory of fifty uploads arriving together (and no more would run in parallel anyway).
        await Decoders.WaitAsync(context.RequestAborted);
        try
        {
            // The name is only used in messages, never as a path.
            prepared = predictor.Prepare(bytes, name, options.MaxPixels);
        }
        catch (ImageDecodeException e)
        {
            bool unsupported = e.Reason.StartsWith("not a supported image", StringComparison.Ordinal);
            return Problem(unsupported ? 415 : 400, unsupported ? "Unsupported media type" : "Unreadable image", e.Reason);
        }
        finally
        {
            Decoders.Release();
        }
        if (!queue.TryEnqueue(prepared, gradCam, out var pending))
        {
            context.Response.Headers.RetryAfter = "1";
            return Problem(503, "Busy", $"{options.QueueCapacity} requests are already waiting; retry shortly");
        }
        var result = await pending;
        var p = result.Prediction;
        return Results.Ok(new
        {
            label = p.Label,
            probability = p.Probability,
            probabilities = p.Probabilities.OrderByDescending(c => c.Probability).Select(c => new { label = c.Label, probability = c.Probability }),
            labels = p.Labels,
            model = Path.GetFileName(options.ModelPath),
            elapsedMs = Math.Round(clock.Elapsed.TotalMilliseconds, 1),
            gradcam = result.GradCamPng is null ? null : Convert.ToBase64String(result.GradCamPng),
        });
    }

    /// <summary>The uploaded bytes (multipart 'file' or raw body), or null when over <paramref name="limit"/>.</summary>
    private static async Task<(byte[]? Bytes, string Name)> ReadImageAsync(HttpContext context, long limit)
    {
        Stream source;
        string name = "upload";
        // Only multipart uploads are forms; any other body (whatever its content type) is the image itself.
        if (context.Request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true)
        {
            var form = await context.Request.ReadFormAsync();
            var file = form.Files.GetFile("file") ?? form.Files.FirstOrDefault();
            if (file is null) return (Array.Empty<byte>(), name);
            if (file.Length > limit) return (null, name);
            name = "upload " + Path.GetFileName(file.FileName);
            source = file.OpenReadStream();
        }
        else source = context.Request.Body;
        using var memory = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = await source.ReadAsync(buffer)) > 0)
        {
            if (memory.Length + read > limit) return (null, name);
            memory.Write(buffer, 0, read);
        }
        return (memory.ToArray(), name);
    }
}
