using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Lumen.Server;

/// <summary>
/// The service's instruments (meter <see cref="MeterName"/>), exported by OpenTelemetry's Prometheus
/// exporter at <c>/metrics</c> as <c>lumen_server_requests_total</c>, <c>lumen_server_request_duration_seconds</c>,
/// <c>lumen_server_batch_size</c>, <c>lumen_server_queue_depth</c> and <c>lumen_server_inference_duration_seconds</c>.
/// </summary>
public sealed class ServerMetrics
{
    /// <summary>The meter's name (what an OpenTelemetry pipeline subscribes to).</summary>
    public const string MeterName = "Lumen.Server";

    // Latencies from 1 ms to 10 s: a 224 px resnet18 batch takes tens to hundreds of milliseconds.
    private static readonly double[] SecondsBuckets = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
    private static readonly int[] BatchBuckets = { 1, 2, 4, 8, 16, 32, 64, 128 };

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _requestDuration;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _inferenceDuration;

    /// <summary>Creates the instruments on a meter from <paramref name="meters"/>.</summary>
    public ServerMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _requests = meter.CreateCounter<long>("lumen.server.requests", description: "HTTP requests answered, by endpoint and status code");
        _requestDuration = meter.CreateHistogram("lumen.server.request.duration", "s", "Time to answer a request, by endpoint and status code",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _batchSize = meter.CreateHistogram("lumen.server.batch.size", "{image}", "Images per forward pass",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
        _inferenceDuration = meter.CreateHistogram("lumen.server.inference.duration", "s", "Time of one batched forward pass (with preprocessing of the batch)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        meter.CreateObservableGauge("lumen.server.queue.depth", () => QueueDepth?.Invoke() ?? 0, "{request}", "Requests waiting for the model");
    }

    /// <summary>Reads the queue's depth when the gauge is observed (set by the prediction queue).</summary>
    internal Func<int>? QueueDepth { get; set; }

    /// <summary>Records an answered request.</summary>
    public void Request(string endpoint, int status, TimeSpan elapsed)
    {
        var tags = new TagList { { "endpoint", endpoint }, { "status", status } };
        _requests.Add(1, tags);
        _requestDuration.Record(elapsed.TotalSeconds, tags);
    }

    /// <summary>Records a forward pass over <paramref name="images"/> images.</summary>
    public void Batch(int images, TimeSpan elapsed, string engine, string precision)
    {
        var tags = new TagList { { "engine", engine }, { "precision", precision } };
        _batchSize.Record(images, tags);
        _inferenceDuration.Record(elapsed.TotalSeconds, tags);
    }
}
