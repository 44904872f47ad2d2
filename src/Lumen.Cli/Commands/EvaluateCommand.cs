using System.ComponentModel;
using Lumen.Inference;
using Lumen.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen evaluate</c>: metrics and confusion matrix of a model on a labelled folder.</summary>
internal sealed class EvaluateCommand : Command<EvaluateCommand.Settings>
{
    internal sealed class Settings : ScoringSettings
    {
        [CommandOption("-o|--out <DIR>")]
        [Description("Detection models: also write precision_recall.png and metrics.json into this folder")]
        public string? Out { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var predictor = settings.LoadPredictor();
        var items = settings.Select(predictor).Items;
        if (predictor.Info.Task.PerPixel) return Segmentation(predictor, items, settings.Tta);
        if (predictor.Info.Task.PerBox) return Detection(predictor, items, settings);
        if (settings.Out is not null) throw new LumenException("--out applies to detection models (the precision-recall plot)");
        var (predictions, skipped) = ConsoleProgress.Run(progress => Evaluation.Predict(predictor, items, settings.Tta, progress: progress));
        using (predictions)
        {
            foreach (var s in skipped) Console.Error.WriteLine($"lumen: skipped '{s.Path}': {s.Reason}");
            var metrics = Evaluation.Metrics(predictions, predictor.Classes.Count);
            var table = new Table().AddColumns("metric", "value");
            foreach (var (name, value) in metrics) table.AddRow(name, $"{value:F4}");
            AnsiConsole.Write(table);
            if (predictions.Task.ConfusionMatrix(predictions.Logits, predictions.Targets, predictor.Classes.Count) is { } confusion)
            {
                var matrix = new Table().Title("confusion matrix (rows: actual, columns: predicted)").AddColumn("actual \\ predicted");
                foreach (var c in predictor.Classes) matrix.AddColumn(Markup.Escape(c));
                for (int a = 0; a < predictor.Classes.Count; a++)
                    matrix.AddRow(new[] { Markup.Escape(predictor.Classes[a]) }.Concat(Enumerable.Range(0, predictor.Classes.Count)
                        .Select(p => a == p ? $"[green]{confusion[a, p]}[/]" : confusion[a, p] == 0 ? "[grey]0[/]" : $"[red]{confusion[a, p]}[/]")).ToArray());
                AnsiConsole.Write(matrix);
            }
            Say.Line($"{predictions.Count} image(s) evaluated, {skipped.Count} skipped");
        }
        return 0;
    }

    /// <summary>A detection scored at each image's own size: COCO's AP overall and per class, the precision-recall plot.</summary>
    private static int Detection(Predictor predictor, IReadOnlyList<Lumen.Data.LabelledItem> items, Settings settings)
    {
        if (settings.Tta > 0) throw new LumenException("--tta is not available for detection models");
        var (scored, skipped) = ConsoleProgress.Run(progress => Evaluation.Detect(predictor, items, progress));
        foreach (var s in skipped) Console.Error.WriteLine($"lumen: skipped '{s.Path}': {s.Reason}");
        var figures = Evaluation.DetectionFigures(scored, predictor.Classes);
        var table = new Table().AddColumns("metric", "value");
        foreach (var (name, value) in Evaluation.Metrics(figures)) table.AddRow(name, $"{value:F4}");
        AnsiConsole.Write(table);
        var perClass = new Table().Title("per class").AddColumns("class", "true boxes", "ap50", "ap", "recall50");
        for (int c = 0; c < predictor.Classes.Count; c++)
            perClass.AddRow(Markup.Escape(predictor.Classes[c]), scored.Sum(s => s.Item.Boxes!.Boxes.Count(b => b.Label == predictor.Classes[c])).ToString(),
                $"{figures.PerClassAp50[c]:F4}", $"{figures.PerClassAp[c]:F4}", $"{figures.PerClassRecall50[c]:F4}");
        AnsiConsole.Write(perClass);
        if (settings.Out is { } folder)
        {
            var interp = Lumen.Interpret.DetectionInterpretation.FromScored(predictor, scored);
            Directory.CreateDirectory(folder);
            string plot = Path.Combine(folder, "precision_recall.png");
            interp.PrecisionRecall().SavePng(plot);
            Say.Line($"wrote {plot}");
        }
        Say.Line($"{scored.Count} image(s) evaluated at their own size, {skipped.Count} skipped");
        return 0;
    }

    /// <summary>A segmentation scored at each image's own size: the metrics, and the images it did worst on.</summary>
    private static int Segmentation(Predictor predictor, IReadOnlyList<Lumen.Data.LabelledItem> items, int tta)
    {
        var (scored, skipped) = ConsoleProgress.Run(progress => Evaluation.Segment(predictor, items, tta, progress));
        foreach (var s in skipped) Console.Error.WriteLine($"lumen: skipped '{s.Path}': {s.Reason}");
        var table = new Table().AddColumns("metric", "value");
        foreach (var (name, value) in Evaluation.Metrics(scored.Select(s => s.Overlap).ToList())) table.AddRow(name, $"{value:F4}");
        AnsiConsole.Write(table);
        var worst = new Table().Title("lowest Dice").AddColumns("image", "dice");
        foreach (var (item, overlap) in scored.OrderBy(s => s.Overlap.ImageDice()).Take(5))
            worst.AddRow(Markup.Escape(Path.GetFileName(item.Path)), $"{overlap.ImageDice():F3}");
        AnsiConsole.Write(worst);
        Say.Line($"{scored.Count} image(s) evaluated at their own size, {skipped.Count} skipped");
        return 0;
    }
}
