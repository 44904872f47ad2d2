using Lumen.Imaging;

namespace Lumen.Inference;

/// <summary>One image's outcome in a bulk prediction: a prediction, or why the file was skipped.</summary>
/// <param name="Path">The image file.</param>
/// <param name="Prediction">The prediction; null when the file could not be read.</param>
/// <param name="Error">Why the file was skipped; null when it was predicted.</param>
public sealed record PredictionRow(string Path, Prediction? Prediction, string? Error);

/// <summary>Settings of <see cref="BulkPrediction.Run"/>.</summary>
public sealed record BulkPredictionOptions
{
    /// <summary>Images per forward pass (default 16, which beat 8 and 32 in end-to-end folder runs on 2 cores; the README gives the figures).</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Test-time augmentation passes (0 = off).</summary>
    public int Tta { get; init; }

    /// <summary>Threads decoding one batch; 0 (default) = one per core.</summary>
    public int DecodeWorkers { get; init; }

    /// <summary>Batches decoded ahead of the one being predicted (default 2), so decoding hides behind inference.</summary>
    public int Lookahead { get; init; } = 2;
}

/// <summary>
/// Predicts many image files as a pipeline: the next batches are decoded and resized in parallel while
/// the current one runs through the model, and results come back in input order as each batch
/// finishes (a caller can write them out at once, so a crash loses at most one batch).
/// </summary>
public static class BulkPrediction
{
    /// <summary>Predicts <paramref name="files"/> in order; unreadable files come back with their error.</summary>
    /// <exception cref="OptionException">A setting is out of range.</exception>
    public static IEnumerable<PredictionRow> Run(Predictor predictor, IReadOnlyList<string> files, BulkPredictionOptions? options = null, CancellationToken cancellation = default)
    {
        options ??= new BulkPredictionOptions();
        if (options.BatchSize < 1) throw new OptionException(OptionName.BatchSize, $"must be at least 1, got {options.BatchSize}");
        if (options.Lookahead < 1) throw new OptionException(OptionName.Lookahead, $"must be at least 1, got {options.Lookahead}");
        if (options.DecodeWorkers < 0) throw new OptionException(OptionName.DecodeWorkers, $"must be 0 (one per core) or more, got {options.DecodeWorkers}");
        if (options.Tta < 0) throw new OptionException(OptionName.Tta, $"must be 0 or more passes, got {options.Tta}");
        return Pipeline(predictor, files, options, cancellation);
    }

    private static IEnumerable<PredictionRow> Pipeline(Predictor predictor, IReadOnlyList<string> files, BulkPredictionOptions options, CancellationToken cancellation)
    {
        var batches = files.Chunk(options.BatchSize).GetEnumerator();
        var decoding = new Queue<(string[] Files, Task<IReadOnlyList<(RgbImage? Image, string? Error)>> Prepared)>();
        void DecodeAhead()
        {
            while (decoding.Count < options.Lookahead && batches.MoveNext())
            {
                var batch = batches.Current;
                decoding.Enqueue((batch, Task.Run(() => predictor.PrepareMany(batch, options.DecodeWorkers, cancellation), cancellation)));
            }
        }

        DecodeAhead();
        while (decoding.Count > 0)
        {
            var (batch, task) = decoding.Dequeue();
            DecodeAhead();  // the following batch decodes while this one is predicted
            var prepared = task.GetAwaiter().GetResult();
            var images = prepared.Where(p => p.Image is not null).Select(p => p.Image!).ToList();
            IReadOnlyList<Prediction> predictions = images.Count == 0 ? Array.Empty<Prediction>() : predictor.PredictBatch(images, options.Tta);
            for (int i = 0, k = 0; i < batch.Length; i++)
                yield return prepared[i].Image is null
                    ? new PredictionRow(batch[i], null, prepared[i].Error)
                    : new PredictionRow(batch[i], predictions[k++], null);
            cancellation.ThrowIfCancellationRequested();
        }
    }
}
