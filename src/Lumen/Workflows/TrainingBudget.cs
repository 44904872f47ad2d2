using System.Diagnostics;
using System.Globalization;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Training;
using Lumen.Files;

namespace Lumen.Workflows;

/// <summary>Training speed measured on this machine at one image size.</summary>
/// <param name="Size">The image side it was measured at.</param>
/// <param name="TrainSecondsPerImage">Wall seconds per training image with the whole network unfrozen (decoding, augmentation, forward, backward, step).</param>
/// <param name="SetupSeconds">Wall seconds to build the pretrained learner (paid again by every ensemble member).</param>
public sealed record TrainingSpeed(int Size, double TrainSecondsPerImage, double SetupSeconds);

/// <summary>What a time budget bought: the image size, the epochs and how many models to average.</summary>
/// <param name="Size">Image side for training and prediction.</param>
/// <param name="Epochs">Unfrozen epochs of each model.</param>
/// <param name="Members">Models trained (on the same split, different seeds); more than one makes an ensemble.</param>
/// <param name="PerMember">Estimated wall time of one model.</param>
/// <param name="Budget">The time the plan had to fit in.</param>
public sealed record BudgetPlan(int Size, int Epochs, int Members, TimeSpan PerMember, TimeSpan Budget)
{
    /// <summary>One line for the user: what was chosen and the time it should take.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"budget {Format(Budget)}: {Size} px, {Epochs} unfrozen epoch{(Epochs == 1 ? "" : "s")}, {(Members == 1 ? "1 model" : $"an ensemble of {Members} models")}, about {Format(PerMember * Members)} of training");

    /// <summary>A duration as people read it: "12 min 05 s", or "40 s" under a minute.</summary>
    public static string Format(TimeSpan t) => t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes} min {t.Seconds:D2} s" : $"{t.TotalSeconds:F0} s";
}

/// <summary>What <see cref="TrainingBudget.Run"/> produced.</summary>
/// <param name="Plan">What the budget bought.</param>
/// <param name="Members">Each trained model's run (one unless the plan is an ensemble).</param>
/// <param name="ModelPath">The model (an ensemble file when there are several members); null when interrupted.</param>
/// <param name="Elapsed">Wall time of the whole run, measuring included.</param>
/// <param name="EnsembleScore">The ensemble's score on the shared validation images, in the task's
/// <see cref="Tasks.ImageTask.SummaryMetric"/> (several members and a validation set only).</param>
public sealed record BudgetResult(BudgetPlan Plan, IReadOnlyList<TrainResult> Members, string? ModelPath, TimeSpan Elapsed, MetricValue? EnsembleScore)
{
    /// <summary>True when the run was interrupted.</summary>
    public bool Interrupted => ModelPath is null;
}

/// <summary>
/// Training within a time budget: measures how fast this machine trains the requested model, then
/// spends the budget in the order cross-validation ranked the choices on the brain-MRI sample: the
/// largest image size that fits the default epochs (224 px beat 128 px by about 4 points), then more
/// epochs up to <see cref="SmallDataDefaults.MaxEpochs"/> (12 epochs with TTA beat the default by 1.9
/// points), then more models on the same split, averaged as an ensemble.
/// </summary>
public static class TrainingBudget
{
    /// <summary>The sizes a budget may pick, largest first (never above the request's size).</summary>
    public static readonly IReadOnlyList<int> Sizes = new[] { 224, 192, 160, 128, 96, 64 };

    /// <summary>The share of the budget the plan fills: the rest absorbs this machine's timing noise.</summary>
    public const double PlannedShare = 0.85;

    /// <summary>The most models an ensemble gets.</summary>
    public const int MaxMembers = 5;

    /// <summary>
    /// Estimated wall time of one training run: learner setup, the frozen and unfrozen epochs (a frozen
    /// epoch is counted at the unfrozen cost: it costs less, so the estimate errs long), validation
    /// after each epoch and the export's calibration pass (prediction counted as a third of a training
    /// step), cost per image scaled by pixel count from the measured size.
    /// </summary>
    public static TimeSpan Estimate(TrainingSpeed speed, int size, int epochs, int freezeEpochs, int trainImages, int validImages)
    {
        double perImage = speed.TrainSecondsPerImage * size * size / ((double)speed.Size * speed.Size);
        double epochSeconds = trainImages * perImage + validImages * perImage / 3;
        double exportSeconds = 64 * perImage / 3 + 2;
        return TimeSpan.FromSeconds(speed.SetupSeconds + (freezeEpochs + epochs) * epochSeconds + exportSeconds);
    }

    /// <summary>
    /// The plan for <paramref name="budget"/>: the largest of <see cref="Sizes"/> (capped by
    /// <paramref name="maxSize"/>) at which the default epochs fit; then, at the largest size, more epochs
    /// while they fit; then as many models (up to <paramref name="maxMembers"/>) as fit. Given epochs are
    /// kept. When even the smallest size does not fit, fewer epochs are tried before giving up.
    /// </summary>
    /// <exception cref="OptionException">The budget cannot fit one epoch at the smallest size (names Budget).</exception>
    public static BudgetPlan Plan(TimeSpan budget, TrainingSpeed speed, int maxSize, int trainImages, int validImages, int batchSize, int freezeEpochs, int? epochs, int maxMembers = MaxMembers)
    {
        if (budget <= TimeSpan.Zero) throw new OptionException(OptionName.Budget, $"must be a positive duration, got {budget}");
        if (maxMembers < 1) throw new OptionException(OptionName.MaxMembers, $"must be at least 1, got {maxMembers}");
        double planned = budget.TotalSeconds * PlannedShare;
        var sizes = Sizes.Where(s => s < maxSize).Prepend(maxSize).ToList();
        int defaultEpochs = epochs ?? SmallDataDefaults.Epochs(trainImages, batchSize);
        bool Fits(int size, int e, int members = 1) => Estimate(speed, size, e, freezeEpochs, trainImages, validImages).TotalSeconds * members <= planned;

        int chosenSize = sizes.FirstOrDefault(s => Fits(s, defaultEpochs));
        int chosenEpochs = defaultEpochs;
        if (chosenSize == 0)
        {
            chosenSize = sizes[^1];
            chosenEpochs = epochs is null ? Enumerable.Range(1, defaultEpochs - 1).Reverse().FirstOrDefault(e => Fits(chosenSize, e)) : 0;
            if (chosenEpochs == 0)
            {
                var least = Estimate(speed, chosenSize, epochs ?? 1, freezeEpochs, trainImages, validImages) / PlannedShare;
                throw new OptionException(OptionName.Budget, $"is too short: the smallest plan ({chosenSize} px, {epochs ?? 1} unfrozen epoch(s)) needs about {BudgetPlan.Format(least)} on this machine");
            }
        }
        else if (chosenSize == sizes[0] && epochs is null)
            while (chosenEpochs < SmallDataDefaults.MaxEpochs && Fits(chosenSize, chosenEpochs + 1)) chosenEpochs++;

        var perMember = Estimate(speed, chosenSize, chosenEpochs, freezeEpochs, trainImages, validImages);
        int members = Math.Clamp((int)(planned / perMember.TotalSeconds), 1, maxMembers);
        return new BudgetPlan(chosenSize, chosenEpochs, members, perMember, budget);
    }

    /// <summary>
    /// Measures training speed: builds the request's learner on <paramref name="data"/>, unfreezes it and
    /// times <paramref name="steps"/> training batches after a first one (which pays one-off costs).
    /// The learner is thrown away.
    /// </summary>
    public static TrainingSpeed Measure(TrainRequest request, ImageDataLoaders data, int steps = 4)
    {
        var setup = Stopwatch.StartNew();
        using var learner = VisionLearner.Create(data, request.Architecture, weights: request.Weights, options: request.Training, head: request.Head,
            callbacks: request.Callbacks.Build(data.Options.Item.Size));
        double setupSeconds = setup.Elapsed.TotalSeconds;
        learner.Unfreeze();
        var timer = new StepTimer(steps + 1);
        using (learner.WithoutCallbacks(_ => true))
            learner.Fit(1, new ICallback[] { new ParamScheduler((_, _) => (1e-4, 0.9)), timer }, phase: FitPhase.Measure);
        return new TrainingSpeed(data.Options.Item.Size, timer.SecondsPerImage, setupSeconds);
    }

    /// <summary>
    /// Trains within <paramref name="budget"/>: loads the data, measures, plans (see <see cref="Plan"/>;
    /// the time spent measuring comes off the budget), says what it chose through
    /// <paramref name="progress"/>, then trains. One model trains into the output folder as
    /// <see cref="TrainWorkflow.Run"/> does; several train into member-k/ subfolders on the same
    /// validation images with seeds seed, seed+1, … and the output folder's model.lumen is their ensemble.
    /// </summary>
    /// <exception cref="OptionException">The budget is too short, or the request resumes or is distributed (not supported with a budget).</exception>
    public static BudgetResult Run(TrainRequest request, TimeSpan budget, IProgressReporter? progress = null, CancellationToken cancellation = default, int maxMembers = MaxMembers)
    {
        progress ??= NullProgress.Instance;
        if (request.Resume) throw new OptionException(OptionName.Budget, "cannot be combined with resuming: resume the run without it");
        if (request.Group is { Size: > 1 }) throw new OptionException(OptionName.Budget, "is for one process: with several processes give the image size and the epochs instead");
        var clock = Stopwatch.StartNew();
        var data = request.Data.Load(request.DataOptions, request.Device, progress, request.Splitter);
        int batchSize = request.DataOptions.Loader.BatchSize ?? SmallDataDefaults.BatchSize(data.Train.Items.Count);
        data = data.WithLoader(data.Options.Loader with { BatchSize = batchSize });
        progress.Note($"budget: measuring training speed at {data.Options.Item.Size} px");
        var speed = Measure(request, data);
        progress.Note(string.Create(CultureInfo.InvariantCulture, $"budget: this machine trains {1 / speed.TrainSecondsPerImage:F1} img/s at {speed.Size} px (model setup {speed.SetupSeconds:F1} s)"));
        if (budget <= clock.Elapsed)
            throw new OptionException(OptionName.Budget, $"is too short: loading the data and measuring took {BudgetPlan.Format(clock.Elapsed)} of {BudgetPlan.Format(budget)}");
        var plan = Plan(budget - clock.Elapsed, speed, data.Options.Item.Size, data.Train.Items.Count, data.Valid.Items.Count, batchSize, request.FreezeEpochs, request.Epochs, maxMembers)
            with { Budget = budget };
        progress.Note(plan.ToString());

        var item = request.DataOptions.Item;
        var planned = request with
        {
            Epochs = plan.Epochs,
            DataOptions = request.DataOptions with { Item = new ItemTransform(plan.Size, item.Method, item.PadMode, item.MinScale) },
        };
        // Every member trains on the data loaded and split above (and the single model too): loaded once.
        var run = RunFolder.At(request.OutputFolder);
        using var folderLock = plan.Members > 1 ? FolderLock.Acquire(run.Path) : null;
        var trained = EnsembleTraining.Run(planned, plan.Members, run, data, progress: progress, cancellation: cancellation);
        if (plan.Members == 1 || trained.ModelPath is null) return new BudgetResult(plan, trained.Runs, trained.ModelPath, clock.Elapsed, null);
        return new BudgetResult(plan, trained.Runs, trained.ModelPath, clock.Elapsed, EnsembleScore(trained.ModelPath, data, progress));
    }

    private static MetricValue? EnsembleScore(string modelPath, ImageDataLoaders data, IProgressReporter progress)
    {
        if (data.Valid.Items.Count == 0) return null;
        using var predictor = Predictor.Load(modelPath, new PredictorOptions { Precision = InferencePrecision.Float32 });
        var (predictions, _) = Evaluation.Predict(predictor, data.Valid.Items, progress: progress);
        var metric = data.Task.SummaryMetric;
        using (predictions) return new MetricValue(metric.Name, metric.Compute(predictions.Logits, predictions.Targets));
    }

    /// <summary>Stops a fit after a number of training batches and times them.</summary>
    private sealed class StepTimer(int batches) : ICallback
    {
        private readonly Stopwatch _clock = new();
        private readonly List<(double EndSeconds, int Images)> _done = new();
        private int _images;

        /// <summary>
        /// Seconds per image over the batches after the first (which pays one-off costs), measured from
        /// the first batch's end; the first batch alone when the epoch has only one.
        /// </summary>
        public double SecondsPerImage => _done.Count == 1
            ? _done[0].EndSeconds / _done[0].Images
            : (_done[^1].EndSeconds - _done[0].EndSeconds) / _done.Skip(1).Sum(b => b.Images);

        void ICallback.BeforeBatch(Learner learner)
        {
            if (!learner.Training) return;
            _images = (int)learner.X.shape[0];
            _clock.Start();
        }

        void ICallback.AfterBatch(Learner learner)
        {
            if (!learner.Training) return;
            _done.Add((_clock.Elapsed.TotalSeconds, _images));
            if (_done.Count >= batches || _done.Count >= learner.Data.Train.BatchCount) learner.Stop("measured");
        }
    }
}
