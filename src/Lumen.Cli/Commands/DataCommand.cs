using Lumen.Data;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;
using Lumen.Cli.Options;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen data</c>: classes and counts per split, then the audit.</summary>
internal sealed class DataCommand : Command<DataSettings>
{
    public override int Execute(CommandContext context, DataSettings settings, CancellationToken cancellationToken)
    {
        DataOptions options = settings.ToDataOptions();
        var dls = ConsoleProgress.Run(progress => settings.Load(options, progress));
        var audit = dls.Audit;

        var shares = audit.ClassPixelShares;
        // For masks, a class's images are those whose mask holds it, and its share of all mask pixels follows.
        var table = new Table().Title($"{Markup.Escape(dls.Folder)}").AddColumns(new[] { "class", "train", "valid", "total" }.Concat(shares is null ? Array.Empty<string>() : new[] { "pixels" }).ToArray());
        for (int k = 0; k < audit.Counts.Count; k++)
        {
            var c = audit.Counts[k];
            table.AddRow(new[] { Markup.Escape(c.Label), c.Train.ToString(), c.Valid.ToString(), c.Total.ToString() }
                .Concat(shares is null ? Array.Empty<string>() : new[] { $"{shares[k]:P1}" }).ToArray());
        }
        table.AddRow(new[] { "[bold]all images[/]", $"[bold]{dls.Train.Items.Count}[/]", $"[bold]{dls.Valid.Items.Count}[/]",
            $"[bold]{dls.Train.Items.Count + dls.Valid.Items.Count}[/]" }.Concat(shares is null ? Array.Empty<string>() : new[] { "" }).ToArray());
        table.Columns[1].RightAligned();
        table.Columns[2].RightAligned();
        table.Columns[3].RightAligned();
        AnsiConsole.Write(table);

        Say.Line($"{dls.Vocab.Count} classes, {dls.Task.Name}; split: {dls.SplitDescription}");
        if (audit.Boxes is { } boxes)
        {
            // For boxes, a class's images are those holding one of its boxes.
            var perImage = boxes.BoxesPerImage;
            Say.Line($"boxes ({boxes.Format}): {boxes.BoxesPerClass.Sum()} in all; per class {string.Join(", ", dls.Vocab.Classes.Select((c, k) => $"{c} {boxes.BoxesPerClass[k]}"))}");
            Say.Line($"boxes per image: none {perImage[0]}, one {perImage[1]}, two {perImage[2]}, three {perImage[3]}, four or more {perImage[4]}");
            if (boxes.RelativeSides.Count == 5)
                Say.Line($"box side relative to its image (√ of the area share): min {boxes.RelativeSides[0]:0.00}, 10% {boxes.RelativeSides[1]:0.00}, "
                    + $"median {boxes.RelativeSides[2]:0.00}, 90% {boxes.RelativeSides[3]:0.00}, max {boxes.RelativeSides[4]:0.00}");
        }
        if (audit.IgnoredFiles > 0) Say.Line($"ignored {audit.IgnoredFiles} file(s) that are not images in a class folder");

        if (audit.Unreadable.Count > 0)
        {
            Say.Prefixed("unreadable files (skipped): ", Color.Red, audit.Unreadable.Count.ToString());
            foreach (var u in audit.Unreadable) Say.Line($"  {u.Path}: {u.Reason}");
        }
        if (audit.Duplicates.Count > 0)
        {
            Say.Line($"byte-identical duplicates: {audit.Duplicates.Count} group(s)");
            foreach (var d in audit.Duplicates)
            {
                string tag = d.CrossesSplit ? " [red](train AND valid: leakage)[/]" : "";
                AnsiConsole.MarkupLine($"  {Markup.Escape(string.Join("  =  ", d.Paths.Select(p => Path.GetRelativePath(dls.Folder, p))))}{tag}");
            }
        }
        if (audit.Warnings.Count == 0 && audit.Unreadable.Count == 0 && audit.Duplicates.Count == 0)
            Say.Success("audit: no unreadable files, no duplicates, classes balanced");
        return 0;
    }
}
