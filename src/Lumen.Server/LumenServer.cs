using System.Diagnostics;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Workflows;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using BadHttpRequestException = Microsoft.AspNetCore.Http.BadHttpRequestException;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Lumen.Server;

/// <summary>
/// The web service: an upload page, a JSON prediction API with micro-batching, model information,
/// liveness and readiness health checks, Prometheus metrics, RFC 7807 problem details for every error
/// and an OpenAPI document. Stateless: replicas scale horizontally.
/// </summary>
public static class LumenServer
{
    /// <summary>Where the service listens when neither the host nor ASPNETCORE_URLS says: loopback only.</summary>
    public const string DefaultUrls = "http://127.0.0.1:5000";

    /// <summary>
    /// Creates the builder with Lumen's services; call <see cref="Map"/> on the built app. Settings come
    /// from the configuration section <see cref="ServerOptions.Section"/> (appsettings.json, environment
    /// variables such as <c>LUMEN__SERVER__MAXBATCH</c>, <paramref name="args"/>), then <paramref name="configure"/>
    /// (a host's explicit settings, e.g. command-line flags) on top.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(Action<ServerOptions>? configure = null, string[]? args = null)
    {
        NativeHeap.ReturnLargeBlocks();
        var builder = WebApplication.CreateSlimBuilder(args ?? Array.Empty<string>());
        var optionsBuilder = builder.Services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.Section);
        if (configure is not null) optionsBuilder.PostConfigure(configure);
        optionsBuilder.ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<ServerOptions>>().Value);
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<ServerOptions>();
            return Predictor.Load(o.ModelPath, new PredictorOptions { Device = Models.Devices.Parse(o.Device), Engine = o.Engine, Precision = o.Precision, Threads = o.Threads });
        });
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton(sp => new PredictionQueue(sp.GetRequiredService<Predictor>(), sp.GetRequiredService<ServerOptions>(), sp.GetRequiredService<ServerMetrics>()));
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<ServerOptions>>((k, o) => k.Limits.MaxRequestBodySize = o.Value.MaxRequestBytes);
        builder.Services.AddOptions<FormOptions>().Configure<IOptions<ServerOptions>>((f, o) => f.MultipartBodyLengthLimit = o.Value.MaxRequestBytes);
        builder.Services.AddOpenApi();
        builder.Services.AddProblemDetails(p => p.CustomizeProblemDetails = context =>
            context.ProblemDetails.Extensions["traceId"] = Activity.Current?.Id ?? context.HttpContext.TraceIdentifier);
        builder.Services.AddAccessControl();
        builder.Services.AddHealthChecks().AddCheck<ReadinessCheck>("model", tags: new[] { "ready" });
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(ServerMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
            .AddPrometheusExporter());

        // Verbosity is needed before the options are built: read the same sources now.
        var settings = new ServerOptions();
        builder.Configuration.GetSection(ServerOptions.Section).Bind(settings);
        configure?.Invoke(settings);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console => { console.SingleLine = true; console.TimestampFormat = "HH:mm:ss "; });
        if (!settings.Verbose)
        {
            // The framework's per-request lines drown the one line Lumen writes; start-up and warnings stay.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        }
        return builder;
    }

    /// <summary>
    /// Builds a ready-to-run app. It listens on <paramref name="urls"/> when given, else where the
    /// configuration says (<c>ASPNETCORE_URLS</c>, <c>--urls</c> in <paramref name="args"/>), else on <see cref="DefaultUrls"/>.
    /// </summary>
    public static WebApplication Build(Action<ServerOptions>? configure = null, string? urls = null, string[]? args = null)
    {
        var builder = CreateBuilder(configure, args);
        urls ??= builder.Configuration[WebHostDefaults.ServerUrlsKey] is { Length: > 0 } configured ? configured : DefaultUrls;
        builder.WebHost.UseUrls(urls);
        var app = builder.Build();
        Map(app);
        return app;
    }

    /// <summary>Adds the middleware and endpoints. The model is loaded here, so a bad file or setting fails at start-up.</summary>
    /// <exception cref="OptionsValidationException">A setting is out of range (the message names its key).</exception>
    public static void Map(WebApplication app)
    {
        var options = app.Services.GetRequiredService<ServerOptions>();
        var predictor = app.Services.GetRequiredService<Predictor>();
        var queue = app.Services.GetRequiredService<PredictionQueue>();
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        app.Lifetime.ApplicationStopped.Register(() => queue.DisposeAsync().AsTask().Wait());

        // One line per request: method, path, status, time, and for predictions the batch and engine
        // (never the image, the file name or the query string). The same figures feed the metrics.
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
                var elapsed = Stopwatch.GetElapsedTime(start);
                int status = context.Response.StatusCode;
                string endpoint = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
                if (endpoint != "/metrics") metrics.Request(endpoint, status, elapsed);
                if (context.Items[BatchSizeKey] is int batch)
                    requests.LogInformation("{Method} {Path} {Status} {ElapsedMs:F1} ms batch {BatchSize} engine {Engine} {Precision}", context.Request.Method,
                        context.Request.Path.Value, status, elapsed.TotalMilliseconds, batch, queue.EngineName, queue.PrecisionName);
                else
                    requests.LogInformation("{Method} {Path} {Status} {ElapsedMs:F1} ms", context.Request.Method, context.Request.Path.Value, status, elapsed.TotalMilliseconds);
            }
        });

        // Never a stack trace in a response: errors become problem details (RFC 7807) with a trace id.
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = error => error is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError,
        });
        // Bodiless errors (404, 405) get problem details too.
        app.UseStatusCodePages();
        app.UseAccessControl();

        app.MapOpenApi("/openapi.json");
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/", () => Results.Content(Page.Value, "text/html; charset=utf-8")).ExcludeFromDescription();
        // Liveness runs no check: the process answers. Readiness: the model is loaded and the queue has room.
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).WithSummary("Liveness: the process is up");
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") }).WithSummary("Readiness: the model is loaded and the queue has room");
        app.MapGet("/api/model", () => TypedResults.Ok(ModelDescription(predictor, options)))
            .WithSummary("The served model: classes, architecture, metrics, preprocessing");
        app.MapPost("/api/predict", (HttpContext context, bool? gradcam) => Predict(context, gradcam ?? false, predictor, queue, options))
            .WithSummary("Classify an image: multipart field 'file', or the raw image bytes as the body")
            .TakesAnImage()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        app.MapPost("/api/segment", (HttpContext context, bool? overlay) => Segment(context, overlay ?? false, predictor, options))
            .WithSummary("Segment an image (segmentation models): multipart field 'file', or the raw image bytes as the body; the mask has the image's size")
            .TakesAnImage();
        app.MapPost("/api/detect", (HttpContext context, bool? overlay, double? threshold) => Detect(context, overlay ?? false, threshold, predictor, options))
            .WithSummary("Find boxes in an image (detection models): multipart field 'file', or the raw image bytes as the body; ?threshold= sets the score threshold (default: the model's)")
            .TakesAnImage();
    }

    /// <summary>An endpoint that takes an uploaded image: its accepted types and its problems in the OpenAPI document, no antiforgery token.</summary>
    private static RouteHandlerBuilder TakesAnImage(this RouteHandlerBuilder endpoint) => endpoint
        .Accepts<IFormFile>("multipart/form-data", "image/jpeg", "image/png", "image/bmp", "image/webp", "image/gif", "application/octet-stream")
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status409Conflict)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
        .DisableAntiforgery();

    private static async Task<Results<Ok<DetectionResponse>, ProblemHttpResult>> Detect(HttpContext context, bool overlay, double? threshold, Predictor predictor, ServerOptions options)
    {
        var clock = Stopwatch.StartNew();
        if (!predictor.Info.Task.PerBox)
            return Problem(409, "Not a detection model", $"the served model is a {predictor.Info.Task.Name} model; POST the image to {(predictor.Info.Task.PerPixel ? "/api/segment" : "/api/predict")}");
        if (threshold is { } t && !(t >= 0 && t <= 1)) return Problem(400, "Bad threshold", $"threshold must be in [0, 1], got {t}");
        var (bytes, name, problem) = await ReadUploadAsync(context, options);
        if (problem is not null) return problem;
        // One at a time, as segmentation: a pass already uses every core.
        await WholeFramePasses.WaitAsync(context.RequestAborted);
        try
        {
            var decoding = predictor.BoxDecoding with { ScoreThreshold = threshold ?? predictor.BoxDecoding.ScoreThreshold };
            var (prediction, image) = predictor.PredictBoxes(bytes!, name, decoding, options.MaxPixels);
            var boxes = prediction.Boxes.Select(b => new FoundBox(b.Label, Math.Round(b.Score, 4), Math.Round(b.XMin, 1), Math.Round(b.YMin, 1), Math.Round(b.XMax, 1), Math.Round(b.YMax, 1))).ToList();
            return TypedResults.Ok(new DetectionResponse(prediction.Width, prediction.Height, boxes, Path.GetFileName(options.ModelPath), Math.Round(clock.Elapsed.TotalMilliseconds, 1),
                overlay ? Convert.ToBase64String(BoxPredictWorkflow.Draw(image, prediction, predictor.Classes).EncodePng()) : null));
        }
        catch (ImageDecodeException e)
        {
            bool unsupported = e.Failure == DecodeFailure.UnsupportedFormat;
            return Problem(unsupported ? 415 : 400, unsupported ? "Unsupported media type" : "Unreadable image", e.Reason);
        }
        finally
        {
            WholeFramePasses.Release();
        }
    }

    /// <summary>One whole-frame pass (segmentation, detection) at a time: a pass already uses every core, and a large upload is decoded at its full size.</summary>
    private static readonly SemaphoreSlim WholeFramePasses = new(1);

    private static async Task<Results<Ok<SegmentationResponse>, ProblemHttpResult>> Segment(HttpContext context, bool overlay, Predictor predictor, ServerOptions options)
    {
        var clock = Stopwatch.StartNew();
        if (!predictor.Info.Task.PerPixel)
            return Problem(409, "Not a segmentation model", $"the served model is a {predictor.Info.Task.Name} model; POST the image to {(predictor.Info.Task.PerBox ? "/api/detect" : "/api/predict")}");
        var (bytes, name, problem) = await ReadUploadAsync(context, options);
        if (problem is not null) return problem;
        await WholeFramePasses.WaitAsync(context.RequestAborted);
        try
        {
            var (prediction, image) = predictor.PredictMask(bytes!, name, options.MaxPixels);
            var mask = prediction.Mask;
            return TypedResults.Ok(new SegmentationResponse(mask.Width, mask.Height,
                prediction.Classes.Select((c, i) => new ClassArea(c, Math.Round(prediction.AreaFractions[i], 6))).ToList(),
                Convert.ToBase64String(mask.EncodePng(binary: prediction.Classes.Count == 2)), Path.GetFileName(options.ModelPath),
                Math.Round(clock.Elapsed.TotalMilliseconds, 1), overlay ? Convert.ToBase64String(mask.Overlay(image).EncodePng()) : null));
        }
        catch (ImageDecodeException e)
        {
            bool unsupported = e.Failure == DecodeFailure.UnsupportedFormat;
            return Problem(unsupported ? 415 : 400, unsupported ? "Unsupported media type" : "Unreadable image", e.Reason);
        }
        finally
        {
            WholeFramePasses.Release();
        }
    }

    /// <summary>The upload's bytes and name, or the problem that stops the request (too large, unreadable form, empty).</summary>
    private static async Task<(byte[]? Bytes, string Name, ProblemHttpResult? Problem)> ReadUploadAsync(HttpContext context, ServerOptions options)
    {
        if (context.Request.ContentLength > options.MaxRequestBytes)
        {
            // The body is left unread, so this connection cannot carry another request: say so, or the
            // client reuses it and its next request fails with a broken pipe (found by bench … serve-soak).
            context.Response.Headers.Connection = "close";
            return (null, "", Problem(413, "Payload too large", $"the request has {context.Request.ContentLength:N0} bytes; the limit is {options.MaxRequestBytes:N0}"));
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
            return (null, "", Problem(413, "Payload too large", $"the request is larger than the limit of {options.MaxRequestBytes:N0} bytes"));
        }
        catch (InvalidDataException e)
        {
            return (null, "", Problem(400, "Bad request", $"the multipart form cannot be read: {e.Message}"));
        }
        if (bytes is null)
        {
            context.Response.Headers.Connection = "close";
            return (null, name, Problem(413, "Payload too large", $"the image is larger than the limit of {options.MaxRequestBytes:N0} bytes"));
        }
        if (bytes.Length == 0) return (null, name, Problem(400, "No image", "send an image as the multipart field 'file' or as the request body"));
        return (bytes, name, null);
    }

    /// <summary>The HttpContext item where a prediction leaves its batch size for the request log.</summary>
    private const string BatchSizeKey = "lumen.batch";

    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(LumenServer).Assembly.GetManifestResourceStream("Lumen.Server.index.html")!;
        return new StreamReader(stream).ReadToEnd();
    });

    /// <summary>What /api/model returns.</summary>
    internal static ModelResponse ModelDescription(Predictor predictor, ServerOptions options)
    {
        var info = predictor.Info;
        var p = info.Preprocessing;
        return new ModelResponse(Path.GetFileName(options.ModelPath), info.Spec.Architecture, info.Spec.Weights, info.Classes, info.Task.Name, info.Threshold,
            info.Training.Metrics, info.Training.CreatedUtc, predictor.Engine.ToString().ToLowerInvariant(), predictor.Precision.ToString().ToLowerInvariant(),
            new PreprocessingResponse(p.Size, p.ResizeMethod.ToString().ToLowerInvariant(), p.Normalization.Mean, p.Normalization.Std, p.Normalization.Scale, p.Normalization.Bgr),
            new LimitsResponse(options.MaxRequestBytes, options.MaxPixels));
    }

    private static readonly SemaphoreSlim Decoders = new(Environment.ProcessorCount);

    private static ProblemHttpResult Problem(int status, string title, string detail) => TypedResults.Problem(detail, statusCode: status, title: title);

    private static async Task<Results<Ok<PredictionResponse>, ProblemHttpResult>> Predict(HttpContext context, bool gradCam, Predictor predictor, PredictionQueue queue, ServerOptions options)
    {
        var clock = Stopwatch.StartNew();
        if (predictor.Info.Task.PerPixel)
            return Problem(409, "A segmentation model", "the served model segments images; POST the image to /api/segment for its mask");
        if (predictor.Info.Task.PerBox)
            return Problem(409, "A detection model", "the served model finds boxes; POST the image to /api/detect");
        var (bytes, name, problem) = await ReadUploadAsync(context, options);
        if (problem is not null) return problem;

        Imaging.RgbImage prepared;
        // A decode may hold MaxPixels × 8 bytes for a moment; as many at once as there are cores bounds
        // the memory of fifty uploads arriving together (and no more would run in parallel anyway).
        await Decoders.WaitAsync(context.RequestAborted);
        try
        {
            // The name is only used in messages, never as a path.
            prepared = predictor.Prepare(bytes!, name, options.MaxPixels);
        }
        catch (ImageDecodeException e)
        {
            bool unsupported = e.Failure == DecodeFailure.UnsupportedFormat;
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
        // A request timeout (or a client that left) stops the wait; the batch it joined still runs.
        var result = await pending.WaitAsync(context.RequestAborted);
        context.Items[BatchSizeKey] = result.BatchSize;
        var p = result.Prediction;
        return TypedResults.Ok(new PredictionResponse(p.Label, p.Probability,
            p.Probabilities.OrderByDescending(c => c.Probability).Select(c => new ClassScore(c.Label, c.Probability)).ToList(),
            p.Labels, Path.GetFileName(options.ModelPath), Math.Round(clock.Elapsed.TotalMilliseconds, 1),
            result.GradCamPng is null ? null : Convert.ToBase64String(result.GradCamPng)));
    }

    /// <summary>The uploaded bytes (multipart 'file' or raw body), or null when over <paramref name="limit"/>.</summary>
    private static async Task<(byte[]? Bytes, string Name)> ReadImageAsync(HttpContext context, long limit)
    {
        Stream source;
        string name = "upload";
        // Only multipart uploads are forms; any other body (whatever its content type) is the image itself.
        if (context.Request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true)
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
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
        while ((read = await source.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            if (memory.Length + read > limit) return (null, name);
            memory.Write(buffer, 0, read);
        }
        return (memory.ToArray(), name);
    }
}
