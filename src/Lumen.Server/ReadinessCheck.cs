using Lumen.Inference;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Lumen.Server;

/// <summary>
/// Readiness (<c>/readyz</c>): healthy when the model is loaded and the prediction queue has room;
/// unhealthy (503) while the queue is full, so a load balancer sends traffic to other replicas.
/// </summary>
internal sealed class ReadinessCheck(Predictor predictor, PredictionQueue queue, ServerOptions options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["pending"] = queue.Pending, ["capacity"] = options.QueueCapacity, ["engine"] = predictor.Engine.ToString().ToLowerInvariant(), ["precision"] = predictor.Precision.ToString().ToLowerInvariant() };
        return Task.FromResult(queue.Pending < options.QueueCapacity
            ? HealthCheckResult.Healthy("model loaded, queue has room", data)
            : HealthCheckResult.Unhealthy($"queue saturated: {queue.Pending} requests waiting", data: data));
    }
}
