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
/// <param name="Accuracy">Accuracy on the held-out images.</param>
/// <param name="MacroF1">Macro-averaged F1.</param>
/// <param name="Mcc">Matthews correlation coefficient (multi-class).</param>
/// <param name="Seconds">Training and scoring time.</param>
/// <param name="ModelPath">The fold's exported model.</param>
/// <param name="BatchSize">The batch size it trained with (given or chosen).</param>
/// <param name="Epochs">Its unfrozen epochs (given or chosen).</param>
public sealed record FoldResult(int Fold, int TrainImages, int ValidImages, double Accuracy, double MacroF1, double Mcc, double Seconds, string ModelPath,
    int BatchSize, int Epochs);

/// <summary>One held-out image's prediction by the model of the fold that did not train on it.</summary>
/// <param name="Path">The image.</param>
/// <param name="Fold">1-based fold whose model scored it.</param>
/// <param name="Actual">Its label.</param>
/// <param name="Predicted">The predicted class.</param>
/// <param name="Probabilities">Probability per class, in class order.</param>
public sealed record OutOfFoldPrediction(string Path, int Fold, string Actual, string Predicted, IReadOnlyList<float> Probabilities);

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
/// <param name="Folds">The finished folds' results.</param>
/// <param name="OutOfFold">Every held-out image's prediction (finished folds only).</param>
/// <param name="Interrupted">True when a fold was interrupted (rerun with <see cref="CrossValidationRequest.Resume"/>).</param>
public sealed record CrossValidationResult(string OutputFolder, IReadOnlyList<string> Classes, IReadOnlyList<FoldResult> Folds,
    IReadOnlyList<OutOfFoldPrediction> OutOfFold, bool Interrupted)
{
    /// <summary>The ensemble of the fold models, when asked for and every fold finished.</summary>
    public string? EnsemblePath { get; init; }

    /// <summary>Accuracy over folds.</summary>
    public MeanSd Accuracy => MeanSd.Of(Folds.Select(f => f.Accuracy).ToList());

    /// <summary>Macro-F1 over folds.</summary>
    public MeanSd MacroF1 => MeanSd.Of(Folds.Select(f => f.MacroF1).ToList());

    /// <summary>MCC over folds.</summary>
    public MeanSd Mcc => MeanSd.Of(Folds.Select(f => f.Mcc).ToList());

    /// <summary>The out-of-fold confusion matrix: actual classes on the rows, predictions on the columns.</summary>
    public long[,] Confusion()
    {
        var m = new long[Classes.Count, Classes.Count];
        var index = Classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        foreach (var p in OutOfFold) m[index[p.Actual], index[p.Predicted]]++;
        return m;
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
    /// <exception cref="DataException">The data is multi-label, or a fold would be empty.</exception>
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
                classes = done.Classes;
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
            var (result, predictions) = Score(trained, modelPath, k + 1, request.Tta, progress, started);
            AtomicFile.WriteAllText(saved, JsonSerializer.Serialize(new SavedFold(request.Folds, seed, classes, result, predictions, request.Members), LumenJson.Options));
            folds.Add(result);
            outOfFold.AddRange(predictions);
            progress.Note($"fold {k + 1}/{request.Folds}: {Summary(result)}");
        }

        var cv = new CrossValidationResult(outDir, classes, folds, outOfFold, interrupted);
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
        var recipe = request.Recipe with { Splitter = SingleLabelFold(request.Folds, k, seed) };
        var trained = EnsembleTraining.Run(recipe, request.Members, fold, resume: request.Resume, progress: progress, cancellation: cancellation,
            label: $"fold {k + 1}/{request.Folds}: ");
        return (trained.Runs[0], trained.ModelPath);
    }

    // An ensemble holds single models: a fold's members rather than the fold's own ensemble.
    private static IEnumerable<string> SingleModels(FoldResult fold, int members) => members == 1
        ? new[] { fold.ModelPath }
        : Enumerable.Range(1, members).Select(m => new RunFolder(Path.GetDirectoryName(fold.ModelPath)!).Member(m).Model);

    // Checked by the splitter, before a fold trains: the scoring below is single-label.
    private static Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>> SingleLabelFold(int folds, int fold, int seed)
    {
        var kfold = Splitter.KFold(folds, fold, seed);
        return items => items.FirstOrDefault(i => i.Labels.Count != 1) is { } multi
            ? throw new DataException($"cross-validation scores single-label data, and '{multi.Path}' has {multi.Labels.Count} labels")
            : kfold(items);
    }

    // Members is absent (1) in folds written before ensembles per fold.
    private sealed record SavedFold(int Folds, int Seed, IReadOnlyList<string> Classes, FoldResult Result, IReadOnlyList<OutOfFoldPrediction> Predictions, int? Members = null);

    private static string Summary(FoldResult r) =>
        string.Create(CultureInfo.InvariantCulture, $"accuracy {r.Accuracy:F3}, macro-F1 {r.MacroF1:F3}, MCC {r.Mcc:F3} on {r.ValidImages} held-out images ({r.Seconds:F0} s)");

    private static (FoldResult, List<OutOfFoldPrediction>) Score(TrainResult trained, string modelPath, int fold, int tta, IProgressReporter progress, DateTime started)
    {
        var data = trained.Learner.Data;
        // The recipe is scored as trained (float32), through the same preprocessing and ONNX graph as serving.
        using var predictor = Predictor.Load(modelPath, new PredictorOptions { Precision = InferencePrecision.Float32 });
        var (predictions, skipped) = Evaluation.Predict(predictor, data.Valid.Items, tta, progress: progress);
        using (predictions)
        {
            foreach (var file in skipped) progress.Warn($"fold {fold}: skipped {file.Path}: {file.Reason}");
            var classes = predictor.Classes;
            var logits = predictions.Logits;
            var targets = predictions.Targets;
            var predicted = logits.argmax(1).data<long>().ToArray();
            var probabilities = predictions.Probabilities.data<float>().ToArray();
            var rows = predictions.Items.Select((item, i) => new OutOfFoldPrediction(item.Path, fold, item.Labels[0], classes[(int)predicted[i]],
                probabilities.AsSpan(i * classes.Count, classes.Count).ToArray())).ToList();
            var result = new FoldResult(fold, data.Train.Items.Count, predictions.Count,
                Metrics.Accuracy.Compute(logits, targets), Metrics.MacroF1.Compute(logits, targets), Metrics.Mcc.Compute(logits, targets),
                (DateTime.UtcNow - started).TotalSeconds, modelPath, trained.BatchSize, trained.Epochs);
            return (result, rows);
        }
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
            ["accuracy"] = cv.Accuracy,
            ["macro_f1"] = cv.MacroF1,
            ["mcc"] = cv.Mcc,
            ["out_of_fold_accuracy"] = cv.OutOfFold.Count == 0 ? null : cv.OutOfFold.Count(p => p.Actual == p.Predicted) / (double)cv.OutOfFold.Count,
            ["out_of_fold_confusion_matrix"] = Enumerable.Range(0, cv.Classes.Count).Select(a => Enumerable.Range(0, cv.Classes.Count).Select(p => confusion[a, p]).ToArray()).ToArray(),
        };
        var run = new RunFolder(cv.OutputFolder);
        AtomicFile.WriteAllText(run.CrossValidationJson, JsonSerializer.Serialize(doc, LumenJson.Options));

        var csv = new StringBuilder();
        csv.AppendLine(Files.Csv.Row(new[] { "file", "fold", "actual", "predicted" }.Concat(cv.Classes.Select(c => "p_" + c))));
        foreach (var p in cv.OutOfFold)
            csv.AppendLine(Files.Csv.Row(new[] { p.Path, p.Fold.ToString(CultureInfo.InvariantCulture), p.Actual, p.Predicted }
                .Concat(p.Probabilities.Select(v => v.ToString("G6", CultureInfo.InvariantCulture)))));
        AtomicFile.WriteAllText(run.OutOfFoldCsv, csv.ToString());
        InterpretationPlots.ConfusionMatrix(confusion, cv.Classes, title: $"Out-of-fold confusion matrix ({cv.Folds.Count} folds)")
            .SavePng(run.ConfusionMatrixPlot);
    }
}
