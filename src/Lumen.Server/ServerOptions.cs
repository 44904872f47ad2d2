using System.ComponentModel.DataAnnotations;
using Lumen.Inference;

namespace Lumen.Server;

/// <summary>
/// Settings of the web service, bound with the options pattern from the configuration section
/// <see cref="Section"/>: appsettings.json (<c>"Lumen": { "Server": { "MaxBatch": 32 } }</c>),
/// environment variables (<c>LUMEN__SERVER__MAXBATCH=32</c>) and, last, the host's own overrides
/// (the command line of <c>lumen serve</c>). Invalid values stop the service at start-up with the key named.
/// </summary>
public sealed class ServerOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Lumen:Server";

    /// <summary>The .lumen model to serve.</summary>
    [Required]
    public string ModelPath { get; set; } = "";

    /// <summary>Largest accepted request body (default 10 MB); larger requests get 413.</summary>
    [Range(1, long.MaxValue)]
    public long MaxRequestBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>Largest accepted image (width × height, checked before decoding pixels; default 40 megapixels).</summary>
    [Range(1, long.MaxValue)]
    public long MaxPixels { get; set; } = 40_000_000;

    /// <summary>Most images predicted in one forward pass (default 16).</summary>
    [Range(1, 1024)]
    public int MaxBatch { get; set; } = 16;

    /// <summary>How long the first request of a batch waits for others to join (default 5 ms).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan BatchWait { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Requests waiting for the model beyond which new ones get 503 with Retry-After (default 64).</summary>
    [Range(1, 100_000)]
    public int QueueCapacity { get; set; } = 64;

    /// <summary>Device for the model ("auto", "cpu", "cuda").</summary>
    [Required]
    public string Device { get; set; } = "auto";

    /// <summary>The inference engine (default auto: ONNX Runtime where it can run the model).</summary>
    public InferenceEngine Engine { get; set; } = InferenceEngine.Auto;

    /// <summary>The number format (default auto: float32; int8 is about 1.8x faster and about a point less accurate).</summary>
    public InferencePrecision Precision { get; set; } = InferencePrecision.Auto;

    /// <summary>Test-time augmentation passes per prediction (default 0; each pass costs a forward pass, as fastai's tta).</summary>
    [Range(0, 64)]
    public int Tta { get; set; }

    /// <summary>Threads of one forward pass under the ONNX engine; 0 (default) = one per core.</summary>
    [Range(0, 1024)]
    public int Threads { get; set; }

    /// <summary>
    /// API keys accepted on the <c>/api/</c> endpoints, in the <see cref="ApiKeyHeader"/> header
    /// (configuration <c>Lumen:Server:ApiKeys:0</c>, <c>LUMEN__SERVER__APIKEYS__0</c>, …). Empty
    /// (default): no key is asked for. The page, health checks and metrics never ask for one.
    /// </summary>
    public string[] ApiKeys { get; set; } = Array.Empty<string>();

    /// <summary>The request header that carries the API key (default X-Api-Key).</summary>
    [Required]
    public string ApiKeyHeader { get; set; } = "X-Api-Key";

    /// <summary>
    /// Requests to <c>/api/</c> one client may make per <see cref="RateLimitWindow"/>; more get 429
    /// with Retry-After. A client is its API key, or its address without keys. 0 (default): no limit.
    /// </summary>
    [Range(0, int.MaxValue)]
    public int RateLimit { get; set; }

    /// <summary>The window of <see cref="RateLimit"/> (default one minute).</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan RateLimitWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Requests to <c>/api/</c> one client may have in progress at once; more get 429. 0 (default): no limit.</summary>
    [Range(0, int.MaxValue)]
    public int ConcurrentRequestsPerClient { get; set; }

    /// <summary>How long a request may take before it is abandoned with 504 (default 30 s; zero: no limit).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// False (default): one log line per request plus start-up and warnings. True: also ASP.NET Core's
    /// own information lines (about eight per request).
    /// </summary>
    public bool Verbose { get; set; }
}
