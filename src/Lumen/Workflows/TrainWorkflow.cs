using Lumen.Data;
using Lumen.Inference;
using Lumen.Interpret;
using Lumen.Models;
using Lumen.Training;
using static TorchSharp.torch;
using Lumen.Files;

namespace Lumen.Workflows;

/// <summary>What <see cref="TrainWorkflow.Run"/> should do: the data, the model, the recipe and where to write.</summary>
public sealed record TrainRequest
{
    /// <summary>The labelled images: a folder or catalogue dataset name, and how it is labelled.</summary>
    public required DataSource Data { get; init; }

    /// <summary>The folder for model.lumen, history, plots, checkpoint and report (locked while the run writes).</summary>
    public required string OutputFolder { get; init; }

    /// <summary>How to read and prepare the data; a batch size left open (null) is chosen from the number of training images (<see cref="SmallDataDefaults.BatchSize"/>).</summary>
    public DataOptions DataOptions { get; init; } = new();

    /// <summary>Replaces the data's own split (e.g. a cross-validation fold, <see cref="Splitter.KFold"/>).</summary>
    public Func<IReadOnlyList<LabelledItem>, IReadOnlyList<Split>>? Splitter { get; init; }

    /// <summary>The architecture (default resnet18, whose ImageNet weights ship offline).</summary>
    public string Architecture { get; init; } = "resnet18";

    /// <summary>default (pretrained), none, imagenet, imagenet-mlnet or a .pth file.</summary>
    public string Weights { get; init; } = "default";

    /// <summary>The classifier head (default fastai's).</summary>
    public HeadOptions Head { get; init; } = HeadOptions.Default;

    /// <summary>Loss, optimiser and sampling settings.</summary>
    public TrainingOptions Training { get; init; } = new();

    /// <summary>MixUp, weight averaging and progressive resizing: built afresh for every learner the request trains.</summary>
    public CallbackOptions Callbacks { get; init; } = new();

    /// <summary>fine_tune's unfrozen epochs; null chooses from the number of training images (<see cref="SmallDataDefaults.Epochs"/>).</summary>
    public int? Epochs { get; init; }

    /// <summary>fine_tune's frozen epochs first.</summary>
    public int FreezeEpochs { get; init; } = 1;

    /// <summary>The base learning rate; null runs the LR finder and uses its valley suggestion.</summary>
    public double? Lr { get; init; } = 2e-3;

    /// <summary>Continue the run whose checkpoint is in <see cref="OutputFolder"/>.</summary>
    public bool Resume { get; init; }

    /// <summary>Stop when valid_loss has not improved for this many epochs.</summary>
    public int? EarlyStopping { get; init; }

    /// <summary>Keep the weights of the epoch with the lowest valid_loss.</summary>
    public bool SaveBest { get; init; }

    /// <summary>Also write report.html and the interpretation figures.</summary>
    public bool Report { get; init; }

    /// <summary>Where to train (default CPU).</summary>
    public Device? Device { get; init; }

    /// <summary>
    /// Train data-parallel with these processes (<see cref="Distributed.ProcessGroups.FromEnvironment"/> under
    /// mpirun); null = this process alone. Every process runs the same request; each trains on its slice of
    /// every batch, and only rank 0 writes into <see cref="OutputFolder"/> (which the others must be able to
    /// read to resume: a shared folder across machines).
    /// </summary>
    public Distributed.IProcessGroup? Group { get; init; }
}

/// <summary>What a training run produced.</summary>
/// <param name="Learner">The trained learner (its model, data, history).</param>
/// <param name="OutputFolder">Where everything was written.</param>
/// <param name="ModelPath">The exported model, or null when the run was interrupted.</param>
/// <param name="Checkpoint">The checkpoint to resume from.</param>
/// <param name="LrFind">The LR finder's result when it chose the learning rate.</param>
/// <param name="BatchSize">The batch size trained with (given or chosen).</param>
/// <param name="Epochs">The unfrozen epochs planned (given or chosen).</param>
public sealed record TrainResult(Learner Learner, string OutputFolder, string? ModelPath, string Checkpoint, LrFindResult? LrFind, int BatchSize, int Epochs)
{
    /// <summary>True when the run was interrupted (resume it with <see cref="TrainRequest.Resume"/>).</summary>
    public bool Interrupted => Learner.Interrupted;

    /// <summary>The report, when one was written.</summary>
    public string? ReportPath { get; init; }
}

/// <summary>
/// What <c>lumen train</c> does, for any host: load the data, build the pretrained learner, choose the
/// learning rate (or take the one given), fine_tune with history, checkpoints, early stopping and
/// save-best as asked, then export the model, draw the plots and write the report. Interrupted runs
/// (the cancellation token) leave a checkpoint and no model.
/// </summary>
public static class TrainWorkflow
{
    /// <summary>Runs <paramref name="request"/>.</summary>
    /// <param name="request">What to train and where.</param>
    /// <param name="progress">Receives the run's notes and progress.</param>
    /// <param name="cancellation">Interrupts the run (it leaves a checkpoint).</param>
    /// <param name="loaded">The request's data, already loaded and split (ensemble members share one load);
    /// the request's <see cref="TrainRequest.DataOptions"/> apply to it. Null loads <see cref="TrainRequest.Data"/>.</param>
    /// <exception cref="OptionException">An option is out of range (its name says which).</exception>
    /// <exception cref="LumenException">The data, the weights or the output folder are unusable.</exception>
    public static TrainResult Run(TrainRequest request, IProgressReporter? progress = null, CancellationToken cancellation = default, ImageDataLoaders? loaded = null)
    {
        progress ??= NullProgress.Instance;
        if (request.Epochs is < 0) throw new OptionException(OptionName.Epochs, $"must be 0 (frozen epochs only) or more, got {request.Epochs}");
        if (request.FreezeEpochs < 0) throw new OptionException(OptionName.FreezeEpochs, $"must be 0 or more, got {request.FreezeEpochs}");
        if (request.Epochs == 0 && request.FreezeEpochs == 0) throw new OptionException(OptionName.Epochs, "is 0 and so are the frozen epochs: nothing would be trained");
        if (request.SaveBest && request.Callbacks.WeightAveragingDecay > 0)
            throw new OptionException(OptionName.SaveBest, "cannot be combined with weight averaging: the averaged weights are what the run keeps");
        if (request.Lr is { } given && !(given > 0)) throw new OptionException(OptionName.Lr, $"must be a positive number, got {given}");
        request.DataOptions.Validate();
        var resizing = ProgressiveResizing.For(request.Callbacks, request.DataOptions.Item.Size);  // checked before the output folder is claimed
        var run = RunFolder.At(request.OutputFolder);
        string outDir = run.Path, checkpoint = run.Checkpoint;
        if (request.Resume && !File.Exists(checkpoint)) throw new OptionException(OptionName.Resume, $"no checkpoint at {checkpoint}");
        var group = request.Group is { Size: > 1 } g ? g : null;
        bool writes = group is null || group.Rank == 0;
        if (group is not null && request.Lr is null)
            throw new OptionException(OptionName.Lr, "must be given when training on several processes (find one first with the LR finder in one process)");
        if (!writes) progress = NullProgress.Instance;
        // Claimed before any work: a second run into the same folder, or one that cannot be written, fails now.
        using var folderLock = writes ? Claim(outDir) : null;

        var data = loaded?.WithOptions(request.DataOptions) ?? request.Data.Load(request.DataOptions, request.Device, progress, request.Splitter);
        if (data.Valid.Items.Count == 0 && (request.EarlyStopping is not null || request.SaveBest || request.Report))
            throw new OptionException(OptionName.ValidPct, "is 0, so there are no validation images; early stopping, save-best and the report need them");
        if (request.Training.DiceWeight != 0 && !data.Task.PerPixel)
            throw new OptionException(OptionName.DiceWeight, $"applies to segmentation (images with masks); this data is {data.Task.Name}");
        if (request.Training.LabelSmoothing != 0 && data.Task.PerBox)
            throw new OptionException(OptionName.LabelSmoothing, "applies to classification; a detector's classes are learned with the focal loss");
        int trainImages = data.Train.Items.Count;
        int? givenBatchSize = request.DataOptions.Loader.BatchSize;
        int batchSize = givenBatchSize ?? SmallDataDefaults.BatchSize(trainImages);
        int epochs = request.Epochs ?? SmallDataDefaults.Epochs(trainImages, batchSize);
        data = data.WithLoader(data.Options.Loader with { BatchSize = batchSize });
        if (group is not null)
        {
            data = data.WithTrain(data.Train.WithShard(group.Rank, group.Size));
            progress.Note($"data-parallel: {group.Size} processes, each training on {batchSize / group.Size}-{(batchSize + group.Size - 1) / group.Size} of every batch of {batchSize}");
        }
        if ((givenBatchSize, request.Epochs) switch { (null, null) => "batch size and epochs", (null, _) => "batch size", (_, null) => "epochs", _ => null } is { } chosen)
            progress.Note($"recipe: batch size {batchSize}, {request.FreezeEpochs} frozen + {epochs} unfrozen epochs ({chosen} chosen for {trainImages} training images)");
        if (resizing is not null)
            progress.Note($"progressive resizing: unfrozen epochs train at {string.Join(", ", Enumerable.Range(0, epochs).Select(e => resizing.SizeAt(e, epochs, request.DataOptions.Item.Size)))} px");
        if (CpuCaches.RiskyForBottlenecks(Architectures.Get(request.Architecture)) is { } risk) progress.Warn(risk);
        var learner = VisionLearner.Create(data, request.Architecture, weights: request.Weights, options: request.Training, head: request.Head, progress: progress,
            callbacks: request.Callbacks.Build(request.DataOptions.Item.Size));
        learner.Cancellation = cancellation;
        if (group is not null) learner.Callbacks.Add(new DataParallel(group));
        if (writes)
        {
            learner.Callbacks.Add(new HistoryWriter(outDir));
            learner.Callbacks.Add(new Checkpoint(checkpoint));
        }
        if (request.EarlyStopping is { } patience) learner.Callbacks.Add(new EarlyStopping(patience: patience));
        if (request.SaveBest) learner.Callbacks.Add(new SaveBest());

        LrFindResult? found = null;
        if (request.Resume) learner.ResumeFineTune(checkpoint);
        else
        {
            double lr = request.Lr ?? (found = learner.LrFind()).Valley;
            if (found is not null) TrainingPlots.LrFind(found, run.LrFindPlot);
            learner.FineTune(epochs, lr, request.FreezeEpochs);
        }
        if (!writes) return new TrainResult(learner, outDir, null, checkpoint, found, batchSize, epochs);
        TrainingPlots.Losses(learner, run.LossesPlot);
        if (learner.History.Any(r => r.Metrics.Count > 0)) TrainingPlots.Metrics(learner.History, run.MetricsPlot);
        if (learner.Interrupted) return new TrainResult(learner, outDir, null, checkpoint, found, batchSize, epochs);

        string modelPath = run.Model;
        learner.Export(modelPath);
        var result = new TrainResult(learner, outDir, modelPath, checkpoint, found, batchSize, epochs);
        if (request.Report && learner.Data.Task.PerPixel) return result with { ReportPath = WriteSegmentationReport(learner, modelPath, run, progress) };
        if (request.Report && learner.Data.Task.PerBox) return result with { ReportPath = WriteDetectionReport(learner, modelPath, run, progress) };
        return request.Report ? result with { ReportPath = WriteReport(learner, run) } : result;
    }

    private static FolderLock Claim(string outDir)
    {
        try
        {
            return FolderLock.Acquire(outDir);
        }
        catch (LumenException e)
        {
            throw new OptionException(OptionName.OutputFolder, $"is unusable: {e.Message}", e);
        }
    }

    /// <summary>The detection report of the exported model on the validation images, at their own size.</summary>
    private static string WriteDetectionReport(Learner learner, string modelPath, RunFolder run, IProgressReporter progress)
    {
        using var predictor = Predictor.Load(modelPath);
        var interp = DetectionInterpretation.FromModel(predictor, learner.Data.Valid.Items, progress);
        interp.Write(run.Path, $"Lumen report: {learner.Model.Spec.Architecture} detector on {Path.GetFileName(learner.Data.Folder)}",
            $"{learner.Model.Spec.Weights} weights, {learner.Data.Options.Item.Size}px, {learner.Data.Vocab.Count} classes, {learner.History.Count} epochs, "
            + $"validation set of {learner.Data.Valid.Items.Count} images scored at their own size");
        return run.Report;
    }

    /// <summary>The segmentation report of the exported model on the validation images, at their own size.</summary>
    private static string WriteSegmentationReport(Learner learner, string modelPath, RunFolder run, IProgressReporter progress)
    {
        using var predictor = Predictor.Load(modelPath);
        var interp = SegmentationInterpretation.FromModel(predictor, learner.Data.Valid.Items, progress: progress);
        interp.Write(run.Path, $"Lumen report: {learner.Model.Spec.Architecture} U-Net on {Path.GetFileName(learner.Data.Folder)}",
            $"{learner.Model.Spec.Weights} weights, {learner.Data.Options.Item.Size}px, {learner.Data.Vocab.Count} classes, {learner.History.Count} epochs, "
            + $"validation set of {learner.Data.Valid.Items.Count} images scored at their own size");
        return run.Report;
    }

    private static string WriteReport(Learner learner, RunFolder run)
    {
        using var interp = ClassificationInterpretation.FromLearner(learner);
        var options = learner.Data.Options;
        InterpretationArtifacts.Write(run.Path, new ReportContent
        {
            Title = $"Lumen report: {learner.Model.Spec.Architecture} on {Path.GetFileName(learner.Data.Folder)}",
            Subtitle = $"{learner.Model.Spec.Weights} weights, {options.Item.Size}px, {learner.Data.Vocab.Count} classes, {learner.History.Count} epochs, validation set of {learner.Data.Valid.Items.Count} images",
            Interpretation = interp,
            Audit = learner.Data.Audit,
            AugmentationExamples = learner.Data.ShowBatch(12),
            History = learner.History,
            GradCam = true,
        }.WithRunFolder(run));
        return run.Report;
    }
}
