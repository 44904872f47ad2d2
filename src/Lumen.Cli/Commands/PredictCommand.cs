using System.ComponentModel;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Workflows;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen predict</c>: classify images with an exported model.</summary>
internal sealed class PredictCommand : Command<PredictCommand.Settings>
{
    internal sealed class Settings : ModelSettings
    {
        [CommandArgument(1, "<image-or-folder>")]
        [Description("An image file, or a folder searched recursively")]
        public string Input { get; init; } = "";

        [CommandOption("-o|--out <FILE>")]
        [Description("Write the predictions table (file,label,probability,top_k rows) to this CSV")]
        public string? Out { get; init; }

        [CommandOption("--csv <FILE>")]
        [Description("Input table of the images to predict: its first column names them, relative to <image-or-folder> (a folder then)")]
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

        [CommandOption("--save-masks <DIR>")]
        [Description("Segmentation: write each image's mask as <stem>.png of the image's size (0/255 for two classes, class indices otherwise)")]
        public string? SaveMasks { get; init; }

        [CommandOption("--draw <DIR>")]
        [Description("Segmentation and detection: write each image with its mask or boxes drawn over it as <stem>.png")]
        public string? Draw { get; init; }

        [CommandOption("--coco <FILE>")]
        [Description("Detection: write the boxes as COCO results JSON (image_id = file stem, category_id = class index + 1, bbox x,y,w,h)")]
        public string? Coco { get; init; }

        [CommandOption("--score-threshold <P>")]
        [Description("Detection: drop boxes scoring below this (default: the model's, the best F1 on its validation images)")]
        public double? ScoreThreshold { get; init; }

        [CommandOption("--nms-iou <IOU>")]
        [Description("Detection: of two boxes of one class overlapping more than this, keep the better (default 0.6)")]
        public double? NmsIou { get; init; }

        [CommandOption("--resume")]
        [Description("With --out: keep the rows an interrupted run wrote and predict only the other images")]
        public bool Resume { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Top < 1) throw new LumenException($"--top must be at least 1, got {settings.Top}");
        var files = Inputs(settings);
        using var predictor = settings.LoadPredictor();
        if (predictor.Info.Task.PerPixel) return Segment(predictor, files, settings, cancellationToken);
        if (predictor.Info.Task.PerBox) return Detect(predictor, files, settings, cancellationToken);
        if (settings.SaveMasks is not null || settings.Draw is not null)
            throw new LumenException($"--save-masks and --draw need a segmentation or detection model; this one is {predictor.Info.Task.Name} classification");
        if (settings.Coco is not null || settings.ScoreThreshold is not null || settings.NmsIou is not null)
            throw new LumenException($"--coco, --score-threshold and --nms-iou need a detection model; this one is {predictor.Info.Task.Name} classification");
        var request = new PredictRequest
        {
            Files = files, Output = settings.Out, Top = settings.Top, Resume = settings.Resume, Group = Cluster.Group,
            Prediction = new BulkPredictionOptions { BatchSize = settings.BatchSize, Tta = settings.Tta },
            KeepRows = settings.Out is null || files.Count <= 20,
        };
        PredictResult result;
        using (var ctrlC = CtrlC.Watch("finishing the current batch; the table keeps every row written so far"))
            result = ConsoleProgress.Run(progress => PredictWorkflow.Run(predictor, request, progress, ctrlC.Token));
        foreach (var row in result.Skipped) Console.Error.WriteLine($"lumen: skipped '{row.Path}': {row.Error}");
        if (result.Interrupted)
        {
            Say.Line(settings.Out is null
                ? "interrupted"
                : $"interrupted: the rows so far are in {PredictionCsv.PartialPath(Path.GetFullPath(settings.Out))}; the same command with --resume predicts the rest");
            return 130;
        }
        double seconds = result.Elapsed.TotalSeconds;
        if (result.MergedRows is { } merged)
        {
            Say.Line($"{merged} image(s) predicted by {Cluster.Group!.Size} processes (this one: {result.Done} in {seconds:F1} s, {Describe(predictor)}); CSV written to {Path.GetFullPath(settings.Out!)}");
            return merged == 0 ? 1 : 0;
        }
        if (Cluster.Group is { Size: > 1 }) return 0;  // ranks other than 0: rank 0 reports the merged table
        if (request.KeepRows)
        {
            var table = new Table().AddColumns("file", "prediction", "probability", $"top {settings.Top}");
            foreach (var row in result.Predicted)
            {
                var p = row.Prediction!;
                table.AddRow(Markup.Escape(Path.GetFileName(row.Path)), Markup.Escape(string.Join(", ", p.Labels)), $"{p.Probability:P1}",
                    Markup.Escape(string.Join(", ", p.Top(settings.Top).Select(t => $"{t.Label} {t.Probability:P1}"))));
            }
            AnsiConsole.Write(table);
        }
        Say.Line($"{result.Done} image(s) predicted in {seconds:F1} s ({result.Done / Math.Max(seconds, 1e-9):F1} img/s, {Describe(predictor)}), {result.Skipped.Count} skipped"
                 + (result.AlreadyDone > 0 ? $", {result.AlreadyDone} kept from the earlier run" : "")
                 + (settings.Out is null ? "" : $"; CSV written to {Path.GetFullPath(settings.Out)}"));
        return result.Done + result.AlreadyDone == 0 ? 1 : 0;
    }

    /// <summary>A detection model's boxes for every image: the table, COCO results and drawings asked for.</summary>
    private static int Detect(Predictor predictor, List<string> files, Settings settings, CancellationToken cancellation)
    {
        if (settings.SaveMasks is not null) throw new LumenException("--save-masks needs a segmentation model; this one finds boxes (use --draw, --out or --coco)");
        if (settings.Tta > 0) throw new LumenException("--tta is not available for detection models");
        var decoding = predictor.BoxDecoding with
        {
            ScoreThreshold = settings.ScoreThreshold ?? predictor.BoxDecoding.ScoreThreshold,
            NmsIou = settings.NmsIou ?? predictor.BoxDecoding.NmsIou,
        };
        var request = new BoxPredictRequest { Files = files, Output = settings.Out, Coco = settings.Coco, Draw = settings.Draw, Decoding = decoding };
        var result = ConsoleProgress.Run(progress => BoxPredictWorkflow.Run(predictor, request, progress, cancellation));
        foreach (var (path, error) in result.Skipped) Console.Error.WriteLine($"lumen: skipped '{path}': {error}");
        if (result.Predicted.Count <= 20)
        {
            var table = new Table().AddColumns("file", "boxes", "best");
            foreach (var p in result.Predicted)
                table.AddRow(Markup.Escape(Path.GetFileName(p.Path)), p.Boxes.Count.ToString(),
                    p.Boxes.Count == 0 ? "" : Markup.Escape($"{p.Boxes[0].Label} {p.Boxes[0].Score:0.00} ({p.Boxes[0].XMin:0}, {p.Boxes[0].YMin:0}, {p.Boxes[0].XMax:0}, {p.Boxes[0].YMax:0})"));
            AnsiConsole.Write(table);
        }
        double seconds = result.Elapsed.TotalSeconds;
        var written = new[] { (settings.Out, "box table"), (settings.Coco, "COCO results"), (settings.Draw, "drawings") }
            .Where(w => w.Item1 is not null).Select(w => $"{w.Item2} in {Path.GetFullPath(w.Item1!)}").ToList();
        Say.Line($"{result.Predicted.Count} image(s) searched in {seconds:F1} s ({result.Predicted.Count / Math.Max(seconds, 1e-9):F1} img/s), "
                 + $"{result.Predicted.Sum(p => p.Boxes.Count)} box(es) at score ≥ {decoding.ScoreThreshold:0.###}, {result.Skipped.Count} skipped"
                 + (written.Count > 0 ? "; " + string.Join(", ", written) : ""));
        return result.Predicted.Count == 0 ? 1 : 0;
    }

    /// <summary>A segmentation model's masks for every image: masks, drawings and the area table asked for.</summary>
    private static int Segment(Predictor predictor, List<string> files, Settings settings, CancellationToken cancellation)
    {
        if (settings.Coco is not null || settings.ScoreThreshold is not null || settings.NmsIou is not null)
            throw new LumenException("--coco, --score-threshold and --nms-iou need a detection model; this one segments");
        if (settings.SaveMasks is null && settings.Draw is null && settings.Out is null && files.Count > 20)
            Say.Line("nothing is written without --save-masks, --draw or --out; showing each image's area fractions only");
        var request = new MaskPredictRequest { Files = files, SaveMasks = settings.SaveMasks, Draw = settings.Draw, Output = settings.Out, Tta = settings.Tta };
        var result = ConsoleProgress.Run(progress => MaskPredictWorkflow.Run(predictor, request, progress, cancellation));
        foreach (var (path, error) in result.Skipped) Console.Error.WriteLine($"lumen: skipped '{path}': {error}");
        if (result.Predicted.Count <= 20)
        {
            var table = new Table().AddColumns(new[] { "file" }.Concat(predictor.Classes.Skip(1).Select(c => $"{c} area")).ToArray());
            foreach (var (path, fractions) in result.Predicted)
                table.AddRow(new[] { Markup.Escape(Path.GetFileName(path)) }.Concat(fractions.Skip(1).Select(f => $"{f:P1}")).ToArray());
            AnsiConsole.Write(table);
        }
        double seconds = result.Elapsed.TotalSeconds;
        var written = new[] { (settings.SaveMasks, "masks"), (settings.Draw, "drawings"), (settings.Out, "area table") }
            .Where(w => w.Item1 is not null).Select(w => $"{w.Item2} in {Path.GetFullPath(w.Item1!)}").ToList();
        Say.Line($"{result.Predicted.Count} image(s) segmented in {seconds:F1} s ({result.Predicted.Count / Math.Max(seconds, 1e-9):F1} img/s), {result.Skipped.Count} skipped"
                 + (written.Count > 0 ? "; " + string.Join(", ", written) : ""));
        return result.Predicted.Count == 0 ? 1 : 0;
    }

    /// <summary>The images to predict: the input file, every image below the input folder, or the rows of the --csv table.</summary>
    private static List<string> Inputs(Settings settings)
    {
        if (settings.Csv is { } table)
        {
            if (!File.Exists(table))
                throw new LumenException($"--csv names an input table (the images to predict), and '{table}' does not exist; write the predictions with --out {table}");
            if (!Directory.Exists(settings.Input)) throw new LumenException($"with --csv, '{settings.Input}' must be the folder the table's file names are relative to");
            var listed = ImageList.Read(table, settings.Input);
            foreach (var missing in listed.Missing) Console.Error.WriteLine($"lumen: skipped '{missing.Path}': {missing.Reason}");
            if (listed.Files.Count == 0) throw new LumenException($"none of the images '{table}' lists exist under '{Path.GetFullPath(settings.Input)}'");
            return listed.Files.ToList();
        }
        List<string> files;
        if (Directory.Exists(settings.Input))
            files = FolderSource.ImageFiles(settings.Input).ToList();
        else if (File.Exists(settings.Input))
            files = new List<string> { Path.GetFullPath(settings.Input) };
        else
            throw new LumenException($"'{settings.Input}' is neither an image file nor a folder");
        if (files.Count == 0) throw new LumenException($"no images found in '{settings.Input}'");
        return files;
    }

    private static string Describe(Predictor predictor) => $"{predictor.Engine.ToString().ToLowerInvariant()} {predictor.Precision.ToString().ToLowerInvariant()}";
}
