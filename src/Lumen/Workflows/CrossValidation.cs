using System.Globalization;
using System.Text;
using System.Text.Json;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Interpret;
using Lumen.Training;
using Lumen.Files;

namespace Lumen.Workflows;

/// <summary>What <see cref="CrossValidation.Run"/> should do: the recipe to train on every fold, and how many folds.</summary>
public sealed record CrossValidationRequest
{
    /// <summary>
    /// The training recipe (data, architecture, options, epochs, learning rate…), trained once per
    /// fold. Its <see cref="TrainRequest.OutputFolder"/> is the cross-validation folder: fold k is
    /// written to <c>fold-k</c> inside it. Its own split settings are replaced by the folds.
    /// </summary>
    public required TrainRequest Recipe { get; init; }

    /// <summary>Number of folds (each image is validation in exactly one).</summary>
    public int Folds { get; init; } = 5;

    /// <summary>Seed of the fold assignment (default: the recipe's data seed).</summary>
    public int? Seed { get; init; }

    /// <summary>
    /// Models trained per fold (default 1). With more, each fold trains <c>member-j</c> inside its folder
    /// on the same fold with training seeds seed, seed + 1, … (the recipe's data seed; the folds stay those
    /// of <see cref="Seed"/>), and the fold's model is their ensemble (mean of the members' probabilities):
    /// what an ensemble trained by a time budget is worth, measured.
    /// </summary>
    public int Members { get; init; } = 1;

    /// <summary>Test-time augmentation passes when scoring each fold's model (0: none).</summary>
    public int Tta { get; init; }

    /// <summary>Keep folds already finished in the folder (and resume an interrupted one) instead of starting over.</summary>
    public bool Resume { get; init; }

    /// <summary>
    /// Also write <c>ensemble.lumen</c>: the fold models (with <see cref="Members"/>, every member) as one
    /// ensemble whose prediction is the mean of their probabilities (for new images: every image here was
    /// trained on by all folds but one, so the cross-validation cannot score it).
    /// </summary>
    public bool Ensemble { get; init; }
}

/// <summary>One fold's model scored on the fold's held-out images.</summary>
/// <param name="Fold">1-based fold number.</param>
/// <param name="TrainImages">Images trained on.</param>
/// <param name="ValidImages">Held-out images scored.</param>
/// <param name="Metrics">The task's metrics on the held-out images, by name (accuracy, f1_score, matthews_corrcoef; accuracy_multi, f1_samples).</param>
/// <param name="Seconds">Training and scoring time.</param>
/// <param name="ModelPath">The fold's exported model.</param>
/// <param name="BatchSize">The batch size it trained with (given or chosen).</param>
/// <param name="Epochs">Its unfrozen epochs (given or chosen).</param>
public sealed record FoldResult(int Fold, int TrainImages, int ValidImages, IReadOnlyDictionary<string, double> Metrics, double Seconds, string ModelPath,
    int BatchSize, int Epochs);

/// <summary>One held-out image's prediction by the model of the fold that did not train on it.</summary>
/// <param name="Path">The image.</param>
/// <param name="Fold">1-based fold whose model scored it.</param>
/// <param name="Actual">Its labels (one for single-label data).</param>
/// <param name="Predicted">The labels the model decided (<see cref="Tasks.ImageTask.Decide"/>).</param>
/// <param name="Probabilities">Probability per class, in class order.</param>
public sealed record OutOfFoldPrediction(string Path, int Fold, IReadOnlyList<string> Actual, IReadOnlyList<string> Predicted, IReadOnlyList<float> Probabilities)
{
    /// <summary>True when the decided labels are the actual ones.</summary>
    public bool Correct => Actual.Order(StringComparer.Ordinal).SequenceEqual(Predicted.Order(StringComparer.Ordinal));
}

/// <summary>A mean and its sample standard deviation over folds.</summary>
/// <param name="Mean">Mean over folds.</param>
/// <param name="Sd">Sample standard deviation (n − 1); 0 for a single value.</param>
public sealed record MeanSd(double Mean, double Sd)
{
    /// <summary>The mean and sd of <paramref name="values"/>.</summary>
    public static MeanSd Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return new MeanSd(double.NaN, double.NaN);
        double mean = values.Average();
        double sd = values.Count < 2 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return new MeanSd(mean, sd);
    }

    /// <summary>"0.912 ± 0.021".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Mean:F3} ± {Sd:F3}");
}

/// <summary>What a cross-validation produced.</summary>
/// <param name="OutputFolder">The cross-validation folder (cv.json, oof.csv, confusion_matrix.png, fold-k/).</param>
/// <param name="Classes">The class names.</param>
/// <param name="Task">What the models predict (it chose the metrics).</param>
/// <param name="Folds">The finished folds' results.</param>
/// <param name="OutOfFold">Every held-out image's prediction (finished folds only).</param>
/// <param name="Interrupted">True when a fold was interrupted (rerun with <see cref="CrossValidationRequest.Resume"/>).</param>
public sealed record CrossValidationResult(string OutputFolder, IReadOnlyList<string> Classes, Tasks.ImageTask Task, IReadOnlyList<FoldResult> Folds,
    IReadOnlyList<OutOfFoldPrediction> OutOfFold, bool Interrupted)
{
    /// <summary>The ensemble of the fold models, when asked for and every fold finished.</summary>
    public string? EnsemblePath { get; init; }

    /// <summary>The metrics every fold reports, in the task's order.</summary>
    public IReadOnlyList<string> MetricNames => Folds.Count == 0 ? Array.Empty<string>() : Folds[0].Metrics.Keys.ToList();

    /// <summary><paramref name="metric"/> over folds.</summary>
    public MeanSd Mean(string metric) => MeanSd.Of(Folds.Select(f => f.Metrics[metric]).ToList());

    /// <summary>The task's headline metric over folds (accuracy; accuracy_multi for multi-label data).</summary>
    public MeanSd Summary => Mean(Task.SummaryMetric.Name);

    /// <summary>
    /// The out-of-fold confusion matrix (actual classes on the rows, predictions on the columns), or null
    /// where the task has none (multi-label) or no fold finished.
    /// </summary>
    public long[,]? Confusion()
    {
        if (OutOfFold.Count == 0 || !Task.PerImage) return null;
        using var scope = TorchSharp.torch.NewDisposeScope();
        var vocab = new Vocabulary(Classes);
        var items = OutOfFold.Select(p => new LabelledItem(p.Path, p.Actual)).ToList();
        var probabilities = TorchSharp.torch.tensor(OutOfFold.SelectMany(p => p.Probabilities).ToArray(), new long[] { OutOfFold.Count, Classes.Count });
        return Task.ConfusionMatrix(Task.Logits(probabilities), Task.Targets(items, vocab, TorchSharp.torch.CPU), Classes.Count);
    }
}

/// <summary>
/// k-fold cross-validation of a training recipe, the honest way to know what a model trained on a few
/// hundred images is worth: seeded, stratified folds (<see cref="Splitter.KFold"/>); the same recipe
/// trained on each fold's training images with <see cref="TrainWorkflow"/>; each fold's exported
/// model scored on its held-out images through the serving path (<see cref="Predictor"/>). Writes
/// per-fold and mean ± sd accuracy, macro-F1 and MCC to <c>cv.json</c>, every out-of-fold prediction
/// to <c>oof.csv</c> and their confusion matrix to <c>confusion_matrix.png</c>.
/// </summary>
public static class CrossValidation
{
    private const string FoldResultFile = "cv-fold.json";

    /// <summary>Runs <paramref name="request"/>; <paramref name="progress"/> also receives each fold's summary.</summary>
    /// <exception cref="OptionException">Folds or a recipe option is out of range.</exception>
    /// <exception cref="DataException">A fold would be empty.</exception>
    public static CrossValidationResult Run(CrossValidationRequest request, IProgressReporter? progress = null, CancellationToken cancellation = default)
    {
        progress ??= NullProgress.Instance;
        if (request.Folds < 2) throw new OptionException(OptionName.Folds, $"must be at least 2, got {request.Folds}");
        if (request.Tta < 0) throw new OptionException(OptionName.Tta, $"must be 0 or more, got {request.Tta}");
        if (request.Members < 1) throw new OptionException(OptionName.Members, $"must be at least 1, got {request.Members}");
        int seed = request.Seed ?? request.Recipe.DataOptions.Seed;
        var run = RunFolder.At(request.Recipe.OutputFolder);
        string outDir = run.Path;
        using var folderLock = FolderLock.Acquire(outDir);

        var folds = new List<FoldResult>();
        var outOfFold = new List<OutOfFoldPrediction>();
        IReadOnlyList<string> classes = Array.Empty<string>();
        var task = Tasks.ImageTask.SingleLabel;
        bool interrupted = false;
        for (int k = 0; k < request.Folds && !interrupted; k++)
        {
            var fold = run.Fold(k + 1);
            string saved = fold.File(FoldResultFile);
            if (request.Resume && File.Exists(saved))
            {
                var done = JsonSerializer.Deserialize<SavedFold>(File.ReadAllText(saved), LumenJson.Options)
                    ?? throw new LumenException($"'{saved}' is empty; delete it to retrain fold {k + 1}");
                if (done.Folds != request.Folds || done.Seed != seed)
                    throw new OptionException(OptionName.Resume, $"'{saved}' is fold {k + 1} of {done.Folds} with seed {done.Seed}, not of {request.Folds} with seed {seed}; use another output folder");
                if ((done.Members ?? 1) != request.Members)
                    throw new OptionException(OptionName.Resume, $"'{saved}' is fold {k + 1} with {done.Members ?? 1} model(s), not {request.Members}; use another output folder");
                if (done.Result.Metrics is null || done.Predictions.Any(p => p.Actual is null))
                    throw new LumenException($"'{saved}' was written by an older Lumen; delete it to retrain fold {k + 1}");
                classes = done.Classes;
                task = done.Task is { } name ? Tasks.ImageTask.Named(name) : Tasks.ImageTask.SingleLabel;
                folds.Add(done.Result);
                outOfFold.AddRange(done.Predictions);
                progress.Note($"fold {k + 1}/{request.Folds} (kept from an earlier run): {Summary(done.Result)}");
                continue;
            }

            var started = DateTime.UtcNow;
            var (trained, modelPath) = TrainFold(request, k, seed, fold, progress, cancellation);
            var data = trained.Learner.Data;
            if (request.Members == 1) trained.Learner.Model.Dispose();  // members' models are disposed as they finish
            if (modelPath is null)
            {
                interrupted = true;
                break;
            }
            classes = data.Vocab.Classes;
            task = data.Task;
            var (result, predictions) = Score(trained, modelPath, k + 1, request.Tta, progress, started);
            AtomicFile.WriteAllText(saved, JsonSerializer.Serialize(new SavedFold(request.Folds, seed, classes, result, predictions, request.Members, task.Name), LumenJson.Options));
            folds.Add(result);
            outOfFold.AddRange(predictions);
            progress.Note($"fold {k + 1}/{request.Folds}: {Summary(result)}");
        }

        var cv = new CrossValidationResult(outDir, classes, task, folds, outOfFold, interrupted);
        if (folds.Count > 0) Write(cv, request, seed);
        if (request.Ensemble && !interrupted && folds.Count == request.Folds)
        {
            string ensemble = run.FoldEnsemble;
            EnsembleFile.Save(ensemble, folds.SelectMany(f => SingleModels(f, request.Members)).ToList());
            cv = cv with { EnsemblePath = ensemble };
        }
        return cv;
    }

    /// <summary>
    /// Trains fold <paramref name="k"/>'s model, or its <see cref="CrossValidationRequest.Members"/> and their
    /// ensemble; returns the first run (its data and recipe) and the model to score (null when interrupted).
    /// </summary>
    private static (TrainResult First, string? ModelPath) TrainFold(CrossValidationRequest request, int k, int seed, RunFolder fold,
        IProgressReporter progress, CancellationToken cancellation)
    {
        var recipe = request.Recipe with { Splitter = Splitter.KFold(request.Folds, k, seed) };
        var trained = EnsembleTraining.Run(recipe, request.Members, fold, resume: request.Resume, progress: progress, cancellation: cancellation,
            label: $"fold {k + 1}/{request.Folds}: ");
        return (trained.Runs[0], trained.ModelPath);
    }

    // An ensemble holds single models: a fold's members rather than the fold's own ensemble.
    private static IEnumerable<string> SingleModels(FoldResult fold, int members) => members == 1
        ? new[] { fold.ModelPath }
        : Enumerable.Range(1, members).Select(m => new RunFolder(Path.GetDirectoryName(fold.ModelPath)!).Member(m).Model);

    // Members is absent (1) in folds written before ensembles per fold, Task (single-label) before tasks.
    private sealed record SavedFold(int Folds, int Seed, IReadOnlyList<string> Classes, FoldResult Result, IReadOnlyList<OutOfFoldPrediction> Predictions, int? Members = null,
        string? Task = null);

    private static string Summary(FoldResult r) =>
        string.Join(", ", r.Metrics.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key} {m.Value:F3}")))
        + $" on {r.ValidImages} held-out images ({r.Seconds:F0} s)";

    private static (FoldResult, List<OutOfFoldPrediction>) Score(TrainResult trained, string modelPath, int fold, int tta, IProgressReporter progress, DateTime started)
    {
        var data = trained.Learner.Data;
        // The recipe is scored as trained (float32), through the same preprocessing and ONNX graph as serving.
        using var predictor = Predictor.Load(modelPath, new PredictorOptions { Precision = InferencePrecision.Float32 });
        if (predictor.Info.Task.PerPixel) return ScoreMasks(trained, predictor, modelPath, fold, tta, progress, started);
        if (predictor.Info.Task.PerBox) return ScoreBoxes(trained, predictor, modelPath, fold, progress, started);
        var (predictions, skipped) = Evaluation.Predict(predictor, data.Valid.Items, tta, progress: progress);
        using (predictions)
        {
            foreach (var file in skipped) progress.Warn($"fold {fold}: skipped {file.Path}: {file.Reason}");
            var classes = predictor.Classes;
            var task = predictor.Info.Task;
            float[] probabilities = predictions.Probabilities.data<float>().ToArray();
            var rows = predictions.Items.Select((item, i) =>
            {
                var row = probabilities.AsSpan(i * classes.Count, classes.Count);
                int best = 0;
                for (int c = 1; c < row.Length; c++) if (row[c] > row[best]) best = c;
                var decided = task.Decide(row, best, predictor.Info.Threshold).Select(c => classes[c]).ToList();
                return new OutOfFoldPrediction(item.Path, fold, item.Labels, decided, row.ToArray());
            }).ToList();
            var metrics = Evaluation.Metrics(predictions, classes.Count);
            metrics.Remove("loss");
            var result = new FoldResult(fold, data.Train.Items.Count, predictions.Count, metrics,
                (DateTime.UtcNow - started).TotalSeconds, modelPath, trained.BatchSize, trained.Epochs);
            return (result, rows);
        }
    }

    /// <summary>
    /// A segmentation fold, scored at each held-out image's own size; its out-of-fold rows hold the
    /// classes the truth and the prediction contain and, as probabilities, the predicted area fractions.
    /// </summary>
    private static (FoldResult, List<OutOfFoldPrediction>) ScoreMasks(TrainResult trained, Predictor predictor, string modelPath, int fold, int tta,
        IProgressReporter progress, DateTime started)
    {
        var data = trained.Learner.Data;
        var (scored, skipped) = Evaluation.Segment(predictor, data.Valid.Items, tta, progress);
        foreach (var file in skipped) progress.Warn($"fold {fold}: skipped {file.Path}: {file.Reason}");
        var classes = predictor.Classes;
        var rows = scored.Select(s =>
        {
            long pixels = s.Overlap.Predicted.Sum();
            var predicted = classes.Where((_, c) => s.Overlap.Predicted[c] > 0).ToList();
            return new OutOfFoldPrediction(s.Item.Path, fold, s.Item.Labels, predicted, s.Overlap.Predicted.Select(p => (float)(p / (double)pixels)).ToArray());
        }).ToList();
        var metrics = Evaluation.Metrics(scored.Select(s => s.Overlap).ToList());
        var result = new FoldResult(fold, data.Train.Items.Count, scored.Count, metrics, (DateTime.UtcNow - started).TotalSeconds, modelPath, trained.BatchSize, trained.Epochs);
        return (result, rows);
    }

    /// <summary>
    /// A detection fold, its boxes found at each held-out image's own size and scored with COCO's AP; its
    /// out-of-fold rows hold the classes of the true boxes and of the boxes shown at the display threshold
    /// and, as probabilities, each class's best box score.
    /// </summary>
    private static (FoldResult, List<OutOfFoldPrediction>) ScoreBoxes(TrainResult trained, Predictor predictor, string modelPath, int fold,
        IProgressReporter progress, DateTime started)
    {
        var data = trained.Learner.Data;
        var (scored, skipped) = Evaluation.Detect(predictor, data.Valid.Items, progress);
        foreach (var file in skipped) progress.Warn($"fold {fold}: skipped {file.Path}: {file.Reason}");
        var classes = predictor.Classes;
        double shown = predictor.BoxDecoding.ScoreThreshold;
        var rows = scored.Select(s => new OutOfFoldPrediction(s.Item.Path, fold, s.Item.Labels,
            classes.Where(c => s.Prediction.Boxes.Any(b => b.Label == c && b.Score >= shown)).ToList(),
            classes.Select(c => s.Prediction.Boxes.Where(b => b.Label == c).Select(b => b.Score).DefaultIfEmpty(0f).Max()).ToArray())).ToList();
        var metrics = Evaluation.Metrics(Evaluation.DetectionFigures(scored, classes));
        var result = new FoldResult(fold, data.Train.Items.Count, scored.Count, metrics, (DateTime.UtcNow - started).TotalSeconds, modelPath, trained.BatchSize, trained.Epochs);
        return (result, rows);
    }

    private static void Write(CrossValidationResult cv, CrossValidationRequest request, int seed)
    {
        var confusion = cv.Confusion();
        var recipe = request.Recipe;
        var doc = new Dictionary<string, object?>
        {
            ["folds"] = request.Folds,
            ["seed"] = seed,
            ["finished_folds"] = cv.Folds.Count,
            ["interrupted"] = cv.Interrupted,
            ["recipe"] = new Dictionary<string, object?>
            {
                ["architecture"] = recipe.Architecture,
                ["weights"] = recipe.Weights,
                ["size"] = recipe.DataOptions.Item.Size,
                ["batch_size"] = recipe.DataOptions.Loader.BatchSize,  // null: chosen per fold (per_fold says what)
                ["freeze_epochs"] = recipe.FreezeEpochs,
                ["epochs"] = recipe.Epochs,  // null: chosen per fold
                ["lr"] = recipe.Lr,
                ["tta"] = request.Tta,
                ["members"] = request.Members,
            },
            ["classes"] = cv.Classes,
            ["per_fold"] = cv.Folds,
            ["task"] = cv.Task.Name,
            ["out_of_fold_exact_match"] = cv.OutOfFold.Count == 0 ? null : cv.OutOfFold.Count(p => p.Correct) / (double)cv.OutOfFold.Count,
            ["out_of_fold_confusion_matrix"] = confusion is null ? null
                : Enumerable.Range(0, cv.Classes.Count).Select(a => Enumerable.Range(0, cv.Classes.Count).Select(p => confusion[a, p]).ToArray()).ToArray(),
        };
        foreach (string metric in cv.MetricNames) doc[metric] = cv.Mean(metric);
        var run = new RunFolder(cv.OutputFolder);
        AtomicFile.WriteAllText(run.CrossValidationJson, JsonSerializer.Serialize(doc, LumenJson.Options));

        var csv = new StringBuilder();
        csv.AppendLine(Files.Csv.Row(new[] { "file", "fold", "actual", "predicted" }.Concat(cv.Classes.Select(c => "p_" + c))));
        foreach (var p in cv.OutOfFold)
            csv.AppendLine(Files.Csv.Row(new[] { p.Path, p.Fold.ToString(CultureInfo.InvariantCulture), string.Join(";", p.Actual), string.Join(";", p.Predicted) }
                .Concat(p.Probabilities.Select(v => v.ToString("G6", CultureInfo.InvariantCulture)))));
        AtomicFile.WriteAllText(run.OutOfFoldCsv, csv.ToString());
        if (confusion is not null)
            InterpretationPlots.ConfusionMatrix(confusion, cv.Classes, title: $"Out-of-fold confusion matrix ({cv.Folds.Count} folds)")
                .SavePng(run.ConfusionMatrixPlot);
    }
}
