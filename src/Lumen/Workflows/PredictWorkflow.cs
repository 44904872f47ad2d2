using Lumen.Distributed;
using Lumen.Inference;

namespace Lumen.Workflows;

/// <summary>What <see cref="PredictWorkflow.Run"/> should do: which images, with which model, written where.</summary>
public sealed record PredictRequest
{
    /// <summary>The images, in the order their rows are written.</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>The predictions table to write (<see cref="PredictionCsv"/>); null writes none.</summary>
    public string? Output { get; init; }

    /// <summary>Classes listed in the table's top_k column.</summary>
    public int Top { get; init; } = 3;

    /// <summary>Keep the rows an interrupted run wrote to <see cref="Output"/> and predict only the other images.</summary>
    public bool Resume { get; init; }

    /// <summary>Batch size, test-time augmentation and decoding threads.</summary>
    public BulkPredictionOptions Prediction { get; init; } = new();

    /// <summary>
    /// Predict with these processes (under mpirun): each predicts one block of the files into its own part
    /// of the table, and rank 0 merges the parts in order once every process is done. Null = this process alone.
    /// </summary>
    public IProcessGroup? Group { get; init; }

    /// <summary>Keep every predicted row in the result (for a host that shows them); otherwise only unreadable files are kept.</summary>
    public bool KeepRows { get; init; }
}

/// <summary>What a prediction run did.</summary>
/// <param name="Predicted">Rows of the images this process predicted (all of them with <see cref="PredictRequest.KeepRows"/>, else none).</param>
/// <param name="Skipped">Images this process could not read, with the reason (they have no row, so a resume retries them).</param>
/// <param name="Done">Images this process predicted.</param>
/// <param name="AlreadyDone">Images whose rows a resumed table already held.</param>
/// <param name="Elapsed">Wall time of the predictions.</param>
/// <param name="Interrupted">True when cancelled: the rows so far are in the table's partial file.</param>
/// <param name="MergedRows">On rank 0 of several processes: the rows of the merged table; otherwise null.</param>
public sealed record PredictResult(IReadOnlyList<PredictionRow> Predicted, IReadOnlyList<PredictionRow> Skipped, int Done, int AlreadyDone, TimeSpan Elapsed,
    bool Interrupted, int? MergedRows);

/// <summary>
/// What <c>lumen predict</c> does, for any host: shards the files across processes, continues an
/// interrupted table, predicts in batches (decoding ahead, <see cref="BulkPrediction"/>), writes each
/// batch's rows as it finishes, and merges the processes' parts.
/// </summary>
public static class PredictWorkflow
{
    /// <summary>Runs <paramref name="request"/> with <paramref name="predictor"/>.</summary>
    /// <exception cref="OptionException">Resume without an output, several processes without one, or an option out of range.</exception>
    public static PredictResult Run(Predictor predictor, PredictRequest request, IProgressReporter? progress = null, CancellationToken cancellation = default)
    {
        progress ??= NullProgress.Instance;
        if (request.Resume && request.Output is null) throw new OptionException(OptionName.Resume, "needs an output table: it continues the one an interrupted run wrote");
        var group = request.Group is { Size: > 1 } g ? g : null;
        if (group is not null && request.Output is null)
            throw new OptionException(OptionName.OutputFolder, "is needed when predicting with several processes: their rows are merged into it");
        var files = request.Files;
        if (group is not null)
        {
            var (from, to) = Partition.Block(files.Count, group.Rank, group.Size);
            files = files.Skip(from).Take(to - from).ToList();
        }
        string? tablePath = request.Output is null ? null : group is null ? request.Output : PredictionCsv.PartPath(request.Output, group.Rank, group.Size);
        using var table = tablePath is null ? null : PredictionCsv.Open(tablePath, request.Top, request.Resume);
        int already = 0;
        if (table is { Done.Count: > 0 })
        {
            int before = files.Count;
            files = files.Where(f => !table.Done.Contains(f)).ToList();
            already = before - files.Count;
            progress.Note($"resuming: {already} image(s) already in the CSV, {files.Count} to predict");
        }

        var predicted = new List<PredictionRow>();
        var skipped = new List<PredictionRow>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            using var task = progress.Start($"Predicting ({predictor.Engine.ToString().ToLowerInvariant()} {predictor.Precision.ToString().ToLowerInvariant()})", files.Count);
            foreach (var batch in BulkPrediction.Run(predictor, files, request.Prediction, cancellation).Chunk(request.Prediction.BatchSize))
            {
                table?.Write(batch);
                table?.Flush();
                if (request.KeepRows) predicted.AddRange(batch.Where(r => r.Prediction is not null));
                skipped.AddRange(batch.Where(r => r.Prediction is null));
                task.Advance(batch.Length);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return new PredictResult(predicted, skipped, 0, already, clock.Elapsed, Interrupted: true, null);
        }
        table?.Complete();
        int done = files.Count - skipped.Count;
        if (group is null) return new PredictResult(predicted, skipped, done, already, clock.Elapsed, false, null);
        group.Barrier();  // every part is complete
        int? merged = group.Rank == 0
            ? PredictionCsv.Merge(request.Output!, Enumerable.Range(0, group.Size).Select(r => PredictionCsv.PartPath(request.Output!, r, group.Size)).ToList())
            : null;
        return new PredictResult(predicted, skipped, done, already, clock.Elapsed, false, merged);
    }
}
