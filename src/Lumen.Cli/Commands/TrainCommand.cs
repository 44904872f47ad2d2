using System.ComponentModel;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Interpret;
using Lumen.Models;
using Lumen.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen train</c>: fine_tune a pretrained model and write everything into --out.</summary>
internal sealed class TrainCommand : Command<TrainCommand.Settings>
{
    internal sealed class Settings : TrainSettings
    {
        [CommandOption("--epochs <N>")]
        [Description("Epochs with the whole network unfrozen (fine_tune's epochs; default 4)")]
        [DefaultValue(4)]
        public int Epochs { get; init; } = 4;

        [CommandOption("--freeze-epochs <N>")]
        [Description("Epochs training only the head first (default 1)")]
        [DefaultValue(1)]
        public int FreezeEpochs { get; init; } = 1;

        [CommandOption("--lr <LR>")]
        [Description("Base learning rate (default 2e-3), or 'auto' to run the LR finder and use its valley suggestion")]
        [DefaultValue("2e-3")]
        public string Lr { get; init; } = "2e-3";

        [CommandOption("-o|--out <DIR>")]
        [Description("Output folder: model.lumen, history.csv/json, plots, checkpoint (default lumen-out)")]
        [DefaultValue("lumen-out")]
        public string Out { get; init; } = "lumen-out";

        [CommandOption("--resume")]
        [Description("Continue the run whose checkpoint is in --out")]
        public bool Resume { get; init; }

        [CommandOption("--early-stopping <PATIENCE>")]
        [Description("Stop when valid_loss has not improved for this many epochs")]
        public int? EarlyStopping { get; init; }

        [CommandOption("--report")]
        [Description("After training, write report.html and the interpretation figures (validation set) into --out")]
        public bool Report { get; init; }

        [CommandOption("--save-best")]
        [Description("Keep the weights of the epoch with the lowest valid_loss")]
        public bool SaveBest { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Epochs < 1) throw new LumenException($"--epochs must be at least 1, got {settings.Epochs}");
        if (settings.FreezeEpochs < 0) throw new LumenException($"--freeze-epochs must be 0 or more, got {settings.FreezeEpochs}");
        double? baseLr = settings.Lr.Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : ParseLr(settings.Lr);
        DataOptions options = settings.ToDataOptions();
        var device = settings.ResolveDevice();
        string outDir = Path.GetFullPath(settings.Out);
        string checkpoint = Path.Combine(outDir, "checkpoint.lumenckpt");
        if (settings.Resume && !File.Exists(checkpoint)) throw new LumenException($"--resume: no checkpoint at {checkpoint}");
        // Claimed before any work: a second run into the same folder, or a folder that cannot be
        // written, fails now rather than after the training.
        FolderLock folderLock;
        try
        {
            folderLock = FolderLock.Acquire(outDir);
        }
        catch (LumenException e)
        {
            throw new LumenException("--out: " + e.Message, e);
        }
        using var _ = folderLock;

        using var interrupt = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (interrupt.IsCancellationRequested) return; // a second Ctrl+C stops at once
            e.Cancel = true;
            interrupt.Cancel();
            Console.Error.WriteLine("lumen: finishing the current batch, then writing a checkpoint (Ctrl+C again to abort)");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var learner = ConsoleProgress.Run(progress =>
            {
                var dls = settings.Load(options, progress, device);
                if (CpuCaches.RiskyForBottlenecks(Architectures.Get(settings.Arch)) is { } risk) progress.Warn(risk);
                var l = VisionLearner.Create(dls, settings.Arch, weights: settings.Weights, options: settings.ToTrainingOptions(), progress: progress);
                l.Cancellation = interrupt.Token;
                l.CheckpointPath = checkpoint;
                l.Callbacks.Add(new HistoryWriter(outDir));
                l.Callbacks.Add(new CheckpointEveryEpoch(checkpoint));
                if (settings.EarlyStopping is { } patience) l.Callbacks.Add(new EarlyStopping(patience: patience));
                if (settings.SaveBest) l.Callbacks.Add(new SaveBest());
                if (settings.Resume)
                {
                    l.ResumeFineTune(checkpoint);
                    return l;
                }
                if (baseLr is null)
                {
                    var found = l.LrFind();
                    TrainingPlots.LrFind(found, Path.Combine(outDir, "lr_find.png"));
                    baseLr = found.Valley;
                    progress.Warn($"--lr auto: the LR finder suggests {found.Valley:0.##e0} (valley; minimum/10 {found.Minimum:0.##e0}, steep {found.Steep:0.##e0}); plot in {Path.Combine(outDir, "lr_find.png")}");
                }
                l.FineTune(settings.Epochs, baseLr.Value, settings.FreezeEpochs);
                return l;
            });

            PrintHistory(learner, AnsiConsole.Profile.Width);
            TrainingPlots.Losses(learner, Path.Combine(outDir, "losses.png"));
            if (learner.History.Count > 0) TrainingPlots.Metrics(learner.History, Path.Combine(outDir, "metrics.png"));
            if (learner.Interrupted)
            {
                Say.Prefixed("interrupted: ", Color.Yellow, $"checkpoint written to {checkpoint}; continue with the same command and --resume");
                return 130;
            }
            string modelPath = Path.Combine(outDir, "model.lumen");
            ModelFile.Export(learner, modelPath);
            if (learner.StopReason is { } reason) Say.Line($"stopped early: {reason}");
            if (settings.Report)
            {
                ConsoleProgress.Run(progress =>
                {
                    learner.Progress = progress;
                    using var interp = ClassificationInterpretation.FromLearner(learner);
                    return InterpretationArtifacts.Write(outDir, new ReportContent
                    {
                        Title = $"Lumen report: {learner.Model.Spec.Architecture} on {Path.GetFileName(learner.Data.Folder)}",
                        Subtitle = $"{learner.Model.Spec.Weights} weights, {options.Size}px, {learner.Data.Vocab.Count} classes, {learner.History.Count} epochs, validation set of {learner.Data.Valid.Items.Count} images",
                        Interpretation = interp,
                        Audit = learner.Data.Audit,
                        AugmentationExamples = learner.Data.ShowBatch(12),
                        History = learner.History,
                        GradCam = true,
                    }.WithRunFolder(outDir));
                });
                Say.Line($"report written to {Path.Combine(outDir, "report.html")}");
            }
            Say.Success($"model written to {modelPath}; history, losses.png and metrics.png in {outDir}");
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    internal static double ParseLr(string text) =>
        double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double lr) && lr > 0
            ? lr
            : throw new LumenException($"--lr must be a positive number (e.g. 2e-3) or 'auto', got '{text}'");

    /// <summary>The epoch table, fitted to the console's width (bands of columns rather than cut headers).</summary>
    internal static void PrintHistory(Learner learner, int width)
    {
        if (learner.History.Count == 0) return;
        var names = learner.History.SelectMany(h => h.Metrics.Keys).Distinct().ToList();
        var headers = new[] { "epoch", "phase", "train_loss", "valid_loss" }.Concat(names).Append("time").ToList();
        var rows = learner.History.Select(h => (IReadOnlyList<string>)new[] { (h.Epoch + 1).ToString(), h.Phase, $"{h.TrainLoss:F4}", $"{h.ValidLoss:F4}" }
            .Concat(names.Select(n => h.Metrics.TryGetValue(n, out double v) ? $"{v:F4}" : ""))
            .Append(TimeSpan.FromSeconds(h.Seconds).ToString(@"mm\:ss")).ToList()).ToList();
        foreach (string line in TextTable.Lines(headers, rows, width)) Say.Line(line);
    }
}
