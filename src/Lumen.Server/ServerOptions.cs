namespace Lumen.Server;

/// <summary>Settings of <c>lumen serve</c>, with safe defaults.</summary>
public sealed record ServerOptions
{
    /// <summary>The .lumen model to serve.</summary>
    public required string ModelPath { get; init; }

    /// <summary>Largest accepted request body (default 10 MB); larger requests get 413.</summary>
    public long MaxRequestBytes { get; init; } = 10 * 1024 * 1024;

    /// <summary>Largest accepted image (width × height, checked before decoding pixels; default 40 megapixels).</summary>
    public long MaxPixels { get; init; } = 40_000_000;

    /// <summary>Most images predicted in one forward pass.</summary>
    public int MaxBatch { get; init; } = 16;

    /// <summary>How long the first request of a batch waits for others to join.</summary>
    public TimeSpan BatchWait { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Requests waiting for the model beyond which new ones get 503 with Retry-After.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>Device for the model ("auto", "cpu", "cuda").</summary>
    public string Device { get; init; } = "auto";

    /// <summary>
    /// False (default): one log line per request plus start-up and warnings. True: also ASP.NET Core's
    /// own information lines (about eight per request).
    /// </summary>
    public bool Verbose { get; init; }
}
