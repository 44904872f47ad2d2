using System.ComponentModel;
using System.Globalization;
using System.Text;
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
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Top < 1) throw new LumenException($"--top must be at least 1, got {settings.Top}");
        using var predictor = settings.LoadPredictor();
        List<string> files;
        if (Directory.Exists(settings.Input))
            files = FolderSource.ImageFiles(settings.Input).ToList();
        else if (File.Exists(settings.Input))
            files = new List<string> { Path.GetFullPath(settings.Input) };
        else
            throw new LumenException($"'{settings.Input}' is neither an image file nor a folder");
        if (files.Count == 0) throw new LumenException($"no images found in '{settings.Input}'");

        var results = ConsoleProgress.Run(progress =>
        {
            var rows = new List<(string File, Prediction? Prediction, string? Error)>();
            using var task = progress.Start("Predicting", files.Count);
            foreach (var chunk in files.Chunk(32))
            {
                var prepared = predictor.PrepareMany(chunk);
                var ok = prepared.Where(p => p.Image is not null).Select(p => p.Image!).ToList();
                var predictions = ok.Count == 0 ? new List<Prediction>() : predictor.PredictBatch(ok, settings.Tta).ToList();
                for (int i = 0, k = 0; i < chunk.Length; i++)
                    rows.Add(prepared[i].Image is null ? (chunk[i], null, prepared[i].Error) : (chunk[i], predictions[k++], null));
                task.Advance(chunk.Length);
            }
            return rows;
        });

        foreach (var (file, _, error) in results.Where(r => r.Error is not null))
            Console.Error.WriteLine($"lumen: skipped '{file}': {error}");
        if (settings.Csv is not null)
        {
            var csv = new StringBuilder("file,label,probability,top_k\n");
            foreach (var (file, p, _) in results.Where(r => r.Prediction is not null))
                csv.AppendLine(string.Join(",", Quote(file), Quote(string.Join(";", p!.Labels)), p.Probability.ToString("F4", CultureInfo.InvariantCulture),
                    Quote(string.Join(";", p.Top(settings.Top).Select(t => $"{t.Label}:{t.Probability.ToString("F4", CultureInfo.InvariantCulture)}")))));
            AtomicFile.WriteAllText(settings.Csv, csv.ToString());
        }
        if (settings.Csv is null || results.Count <= 20)
        {
            var table = new Table().AddColumns("file", "prediction", "probability", $"top {settings.Top}");
            foreach (var (file, p, _) in results.Where(r => r.Prediction is not null))
                table.AddRow(Markup.Escape(Path.GetFileName(file)), Markup.Escape(string.Join(", ", p!.Labels)), $"{p.Probability:P1}",
                    Markup.Escape(string.Join(", ", p.Top(settings.Top).Select(t => $"{t.Label} {t.Probability:P1}"))));
            AnsiConsole.Write(table);
        }
        int done = results.Count(r => r.Prediction is not null);
        Say.Line(($"{done} image(s) predicted, {results.Count - done} skipped" + (settings.Csv is null ? "" : $"; CSV written to {Path.GetFullPath(settings.Csv)}")));
        return done == 0 ? 1 : 0;
    }

    private static string Quote(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
