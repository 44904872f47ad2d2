using System.ComponentModel;
using Lumen.Data;
using Lumen.Inference;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen predict</c>: classify images with an exported model.</summary>
internal sealed class PredictCommand : Command<PredictCommand.Settings>
{
    internal sealed class Settings : ModelSettings
    {
        [CommandArgument(1, "<image-or-folder>")]
        [Description("An image file, or a folder searched recursively")]
        public string Input { get; init; } = "";

        [CommandOption("--csv <FILE>")]
        [Description("Write file,label,probability,top_k rows to this CSV")]
        public string? Csv { get; init; }

        [CommandOption("--top <K>")]
        [Description("Show the K most probable classes (default 3)")]
        [DefaultValue(3)]
        public int Top { get; init; } = 3;

        [CommandOption("--tta <N>")]
        [Description("Test-time augmentation passes (0 = off)")]
        [DefaultValue(0)]
        public int Tta { get; init; }

        [CommandOption("--bs <N>")]
        [Description("Images per forward pass (default 16)")]
        [DefaultValue(16)]
        public int BatchSize { get; init; } = 16;

        [CommandOption("--resume")]
        [Description("With --csv: keep the rows an interrupted run wrote and predict only the other images")]
        public bool Resume { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Top < 1) throw new LumenException($"--top must be at least 1, got {settings.Top}");
        if (settings.Resume && settings.Csv is null) throw new LumenException("--resume needs --csv: it continues the CSV an interrupted run wrote");
        List<string> files;
        if (Directory.Exists(settings.Input))
            files = FolderSource.ImageFiles(settings.Input).ToList();
        else if (File.Exists(settings.Input))
            files = new List<string> { Path.GetFullPath(settings.Input) };
        else
            throw new LumenException($"'{settings.Input}' is neither an image file nor a folder");
        if (files.Count == 0) throw new LumenException($"no images found in '{settings.Input}'");
        // Under mpirun each process predicts one block of the files into its own part of the CSV; rank 0 merges them.
        var group = Cluster.Group;
        if (group is not null && settings.Csv is null) throw new LumenException("--csv is needed when predicting with several processes (mpirun): their rows are merged into it");
        string? csvPath = group is null || settings.Csv is null ? settings.Csv : PredictionCsv.PartPath(settings.Csv, group.Rank, group.Size);
        if (group is not null)
        {
            var (from, to) = Partition.Block(files.Count, group.Rank, group.Size);
            files = files.GetRange(from, to - from);
        }
        using var predictor = settings.LoadPredictor();

        using var csv = csvPath is null ? null : PredictionCsv.Open(csvPath, settings.Top, settings.Resume);
        int already = 0;
        if (csv is not null && csv.Done.Count > 0)
        {
            int before = files.Count;
            files = files.Where(f => !csv.Done.Contains(f)).ToList();
            already = before - files.Count;
            Say.Line($"resuming: {already} image(s) already in the CSV, {files.Count} to predict");
        }
        bool showTable = settings.Csv is null || files.Count <= 20;
        var shown = new List<PredictionRow>();
        var skipped = new List<PredictionRow>();
        var options = new BulkPredictionOptions { BatchSize = settings.BatchSize, Tta = settings.Tta };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (var ctrlC = CtrlC.Watch("finishing the current batch; the CSV keeps every row written so far"))
        {
            try
            {
                ConsoleProgress.Run(progress =>
                {
                    using var task = progress.Start($"Predicting ({Describe(predictor)})", files.Count);
                    foreach (var batch in BulkPrediction.Run(predictor, files, options, ctrlC.Token).Chunk(settings.BatchSize))
                    {
                        csv?.Write(batch);
                        csv?.Flush();
                        if (showTable) shown.AddRange(batch.Where(r => r.Prediction is not null));
                        skipped.AddRange(batch.Where(r => r.Prediction is null));
                        task.Advance(batch.Length);
                    }
                    return 0;
                });
            }
            catch (OperationCanceledException)
            {
                Say.Line(settings.Csv is null
                    ? "interrupted"
                    : $"interrupted: the rows so far are in {PredictionCsv.PartialPath(Path.GetFullPath(settings.Csv))}; the same command with --resume predicts the rest");
                return 130;
            }
        }
        csv?.Complete();
        double seconds = clock.Elapsed.TotalSeconds;
        if (group is not null)
        {
            foreach (var row in skipped) Console.Error.WriteLine($"lumen: skipped '{row.Path}': {row.Error}");
            group.Barrier();  // every part is complete
            if (group.Rank != 0) return 0;
            int rows = PredictionCsv.Merge(settings.Csv!, Enumerable.Range(0, group.Size).Select(r => PredictionCsv.PartPath(settings.Csv!, r, group.Size)).ToList());
            Say.Line($"{rows} image(s) predicted by {group.Size} processes (this one: {files.Count - skipped.Count} in {seconds:F1} s, {Describe(predictor)}); CSV written to {Path.GetFullPath(settings.Csv!)}");
            return rows == 0 ? 1 : 0;
        }

        foreach (var row in skipped)
            Console.Error.WriteLine($"lumen: skipped '{row.Path}': {row.Error}");
        if (showTable)
        {
            var table = new Table().AddColumns("file", "prediction", "probability", $"top {settings.Top}");
            foreach (var row in shown)
            {
                var p = row.Prediction!;
                table.AddRow(Markup.Escape(Path.GetFileName(row.Path)), Markup.Escape(string.Join(", ", p.Labels)), $"{p.Probability:P1}",
                    Markup.Escape(string.Join(", ", p.Top(settings.Top).Select(t => $"{t.Label} {t.Probability:P1}"))));
            }
            AnsiConsole.Write(table);
        }
        int done = files.Count - skipped.Count;
        Say.Line($"{done} image(s) predicted in {seconds:F1} s ({done / Math.Max(seconds, 1e-9):F1} img/s, {Describe(predictor)}), {skipped.Count} skipped"
                 + (already > 0 ? $", {already} kept from the earlier run" : "")
                 + (settings.Csv is null ? "" : $"; CSV written to {Path.GetFullPath(settings.Csv)}"));
        return done + already == 0 ? 1 : 0;
    }

    private static string Describe(Predictor predictor) => $"{predictor.Engine.ToString().ToLowerInvariant()} {predictor.Precision.ToString().ToLowerInvariant()}";
}
