using System.Threading.Channels;
using Lumen.Imaging;
using Lumen.Inference;

namespace Lumen.Server;

/// <summary>A prediction, the size of the batch it was computed in, and, when asked for, a Grad-CAM overlay (PNG).</summary>
public sealed record QueuedResult(Prediction Prediction, int BatchSize, byte[]? GradCamPng);

/// <summary>
/// Serialises access to the one loaded model and batches requests that arrive together: the first
/// waiting request waits up to <see cref="ServerOptions.BatchWait"/> for up to
/// <see cref="ServerOptions.MaxBatch"/> others, then one forward pass answers all of them, so throughput
/// rises under load. The queue is bounded: when it is full, <see cref="TryEnqueue"/> refuses (the
/// server answers 503) instead of letting memory grow.
/// </summary>
public sealed class PredictionQueue : IAsyncDisposable
{
    private readonly Predictor _predictor;
    private readonly ServerOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly Channel<Work> _channel;
    private readonly Task _loop;

    private sealed record Work(RgbImage Image, bool GradCam, TaskCompletionSource<QueuedResult> Done);

    /// <summary>Starts the batching loop.</summary>
    public PredictionQueue(Predictor predictor, ServerOptions options, ServerMetrics metrics)
    {
        _predictor = predictor;
        _options = options;
        _metrics = metrics;
        metrics.QueueDepth = () => Pending;
        _channel = Channel.CreateBounded<Work>(new BoundedChannelOptions(options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Requests waiting now.</summary>
    public int Pending => _channel.Reader.Count;

    /// <summary>The engine's name as logs and metrics show it.</summary>
    public string EngineName => _predictor.Engine.ToString().ToLowerInvariant();

    /// <summary>The precision's name as logs and metrics show it.</summary>
    public string PrecisionName => _predictor.Precision.ToString().ToLowerInvariant();

    /// <summary>Total forward passes run (for tests and monitoring).</summary>
    public long Batches { get; private set; }

    /// <summary>Queues a prepared image; false when the queue is full or shutting down.</summary>
    public bool TryEnqueue(RgbImage prepared, bool gradCam, out Task<QueuedResult> result)
    {
        var done = new TaskCompletionSource<QueuedResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        result = done.Task;
        return _channel.Writer.TryWrite(new Work(prepared, gradCam, done));
    }

    private async Task RunAsync()
    {
        var batch = new List<Work>(_options.MaxBatch);
        while (await _channel.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < _options.MaxBatch && _channel.Reader.TryRead(out var w)) batch.Add(w);
            if (batch.Count < _options.MaxBatch)
            {
                using var wait = new CancellationTokenSource(_options.BatchWait);
                try
                {
                    while (batch.Count < _options.MaxBatch && await _channel.Reader.WaitToReadAsync(wait.Token))
                        while (batch.Count < _options.MaxBatch && _channel.Reader.TryRead(out var w)) batch.Add(w);
                }
                catch (OperationCanceledException) { /* the wait is over: run what we have */ }
            }
            if (batch.Count == 0) continue;
            Run(batch);
        }
    }

    private void Run(List<Work> batch)
    {
        try
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            var predictions = _predictor.PredictBatch(batch.Select(w => w.Image).ToList(), _options.Tta);
            _metrics.Batch(batch.Count, System.Diagnostics.Stopwatch.GetElapsedTime(start), EngineName, PrecisionName);
            Batches++;
            for (int i = 0; i < batch.Count; i++)
            {
                byte[]? png = batch[i].GradCam ? _predictor.GradCam(batch[i].Image, predictions[i].Index).EncodePng() : null;
                batch[i].Done.TrySetResult(new QueuedResult(predictions[i], batch.Count, png));
            }
        }
        catch (Exception e)
        {
            foreach (var w in batch) w.Done.TrySetException(e);
        }
    }

    /// <summary>Stops accepting work, finishes what is queued (graceful shutdown).</summary>
    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _loop;
    }
}
