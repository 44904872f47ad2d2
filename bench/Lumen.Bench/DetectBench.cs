using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lumen.Data;
using Lumen.Data.Boxes;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Training;
using Lumen.Workflows;

namespace Lumen.Bench;

/// <summary>
/// Detection quality and speed against the tool users would pick instead: the same k folds of a folder
/// of images and boxes (default 5 folds of ../shared/data/kvasir-seg-dev with kavsir_bboxes.json), trained
/// with Lumen's default <c>lumen cv</c> recipe (plus any <c>lumen</c> flags after <c>--</c>) and with
/// torchvision's own FCOS on a ResNet-18 feature pyramid from the same ImageNet weights
/// (bench/python/fcos_recipe.py, Debian's python3-torchvision), at the same size and epochs; both sides'
/// boxes, found at each held-out image's own size, are scored here with the same COCO average
/// precision (<see cref="AveragePrecision"/>): AP50 and AP side by side with mean ± sd, and training and
/// prediction images/s of both in the same run.
/// Usage: detect [folder] [--boxes file] [--folds 5] [--size 256] [--epochs 8] [--freeze-epochs 1] [--bs 16] [--skip-python] [--skip-lumen] [-- lumen cv flags]
/// </summary>
internal static class DetectBench
{
    public static int Run(string[] args)
    {
        int dashes = Array.IndexOf(args, "--");
        string[] lumenFlags = dashes >= 0 ? args[(dashes + 1)..] : Array.Empty<string>();
        args = dashes >= 0 ? args[..dashes] : args;
        string folder = Path.GetFullPath(Program.Positional(args) ?? Program.RepoFile("..", "shared", "data", "kvasir-seg-dev"));
        string boxes = Path.GetFullPath(Program.Option(args, "--boxes", Path.Combine(folder, "kavsir_bboxes.json")));
        int folds = Int(args, "--folds", "5"), size = Int(args, "--size", DataSource.DetectionSize.ToString(CultureInfo.InvariantCulture)), epochs = Int(args, "--epochs", "8");
        int freezeEpochs = Int(args, "--freeze-epochs", "1"), batchSize = Int(args, "--bs", "16");
        const int seed = 42;
        string work = Directory.CreateTempSubdirectory("lumen-detect-").FullName;
        Console.WriteLine($"detection benchmark: {folder} with {boxes}, {folds} folds (seed {seed}), {size} px, bs {batchSize}, {freezeEpochs} frozen + {epochs} epochs; work folder {work}");

        // The folds, written once for both sides (Lumen's own k-fold split).
        string images = Path.Combine(folder, "images");
        var listing = DetectionSource.Scan(Directory.Exists(images) ? images : folder, boxes);
        var items = listing.Items;
        var classes = listing.Classes!;
        var foldOf = Splitter.FoldOf(items, folds, seed);
        string foldsFile = Path.Combine(work, "folds.json");
        File.WriteAllText(foldsFile, JsonSerializer.Serialize(new
        {
            classes,
            images = items.Select((item, i) => new
            {
                path = item.Path, fold = foldOf[i] + 1,
                boxes = item.Boxes!.Boxes.Select(b => new double[] { b.XMin, b.YMin, b.XMax, b.YMax, IndexOf(classes, b.Label) }),
            }),
        }));
        List<LabelledItem> HeldOut(int fold) => items.Where((_, i) => foldOf[i] + 1 == fold).ToList();

        var python = args.Contains("--skip-python") ? null : TorchvisionFcos(work, foldsFile, size, epochs, freezeEpochs, batchSize, folds, HeldOut, classes);
        var lumen = args.Contains("--skip-lumen") ? null : LumenRecipe(folder, boxes, work, folds, seed, size, epochs, freezeEpochs, batchSize, lumenFlags, HeldOut, classes);

        Console.WriteLine();
        Console.WriteLine($"{"fold",-10}{"Lumen AP50",12}{"torchvision AP50",18}{"Lumen AP",12}{"torchvision AP",16}");
        for (int k = 0; k < folds; k++)
            Console.WriteLine($"{k + 1,-10}{Cell(lumen?.Ap50, k),12}{Cell(python?.Ap50, k),18}{Cell(lumen?.Ap, k),12}{Cell(python?.Ap, k),16}");
        Console.WriteLine($"{"mean ± sd",-10}{Summary(lumen?.Ap50),12}{Summary(python?.Ap50),18}{Summary(lumen?.Ap),12}{Summary(python?.Ap),16}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"train img/s",-10}{Rate(lumen?.TrainRate),12}{Rate(python?.TrainRate),18}\n{"predict img/s",-10}{Rate(lumen?.PredictRate),10}{Rate(python?.PredictRate),18}"));
        if (lumen?.Ap50.Count == folds && python?.Ap50.Count == folds)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Lumen − torchvision FCOS: {(lumen.Ap50.Average() - python.Ap50.Average()) * 100:+0.0;-0.0} points of mean AP50, {(lumen.Ap.Average() - python.Ap.Average()) * 100:+0.0;-0.0} of AP; "
                + $"training {lumen.TrainRate.Average() / python.TrainRate.Average():F2}x, prediction {lumen.PredictRate.Average() / python.PredictRate.Average():F2}x"));
        return 0;
    }

    private sealed record Side(List<double> Ap50, List<double> Ap, List<double> TrainRate, List<double> PredictRate);

    private static int IndexOf(IReadOnlyList<string> classes, string label)
    {
        for (int i = 0; i < classes.Count; i++) if (classes[i] == label) return i;
        throw new ArgumentException($"unknown class {label}", nameof(label));
    }

    private static int Int(string[] args, string name, string fallback) => int.Parse(Program.Option(args, name, fallback), CultureInfo.InvariantCulture);

    private static string Cell(List<double>? values, int k) => values is not null && k < values.Count ? values[k].ToString("F4", CultureInfo.InvariantCulture) : "-";

    private static string Summary(List<double>? values) => values is { Count: > 0 } ? MeanSd.Of(values).ToString() : "-";

    private static string Rate(List<double>? values) => values is { Count: > 0 } ? values.Average().ToString("F1", CultureInfo.InvariantCulture) : "-";

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The true boxes of held-out items, per image, as class indices.</summary>
    private static List<IReadOnlyList<TrueBox>> Truths(IEnumerable<LabelledItem> held, IReadOnlyList<string> classes) =>
        held.Select(i => (IReadOnlyList<TrueBox>)i.Boxes!.Boxes.Select(b => new TrueBox(IndexOf(classes, b.Label), b.XMin, b.YMin, b.XMax, b.YMax)).ToList()).ToList();

    /// <summary>
    /// <c>lumen cv</c> with the given recipe; training images/s from each fold's epochs (their seconds include
    /// the epoch's validation pass), prediction images/s of each fold's model on its held-out images at their
    /// own size (decode, forward, decode boxes), AP of those boxes.
    /// </summary>
    private static Side LumenRecipe(string folder, string boxes, string work, int folds, int seed, int size, int epochs, int freezeEpochs, int batchSize,
        string[] flags, Func<int, List<LabelledItem>> heldOut, IReadOnlyList<string> classes)
    {
        string cvFolder = Path.Combine(work, "lumen-cv");
        var args = new[] { "cv", folder, "--boxes", boxes, "--folds", Str(folds), "--seed", Str(seed), "--size", Str(size), "--epochs", Str(epochs),
            "--freeze-epochs", Str(freezeEpochs), "--bs", Str(batchSize), "--out", cvFolder }.Concat(flags).ToArray();
        Console.WriteLine($"lumen {string.Join(' ', args)}");
        var watch = Stopwatch.StartNew();
        int code = Lumen.Cli.Program.Main(args);
        if (code != 0) throw new LumenException($"lumen cv failed with exit code {code}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"lumen: {watch.Elapsed.TotalMinutes:F1} min for {folds} folds"));
        using var cv = JsonDocument.Parse(File.ReadAllText(Path.Combine(cvFolder, "cv.json")));
        var side = new Side(new(), new(), new(), new());
        foreach (var fold in cv.RootElement.GetProperty("per_fold").EnumerateArray())
        {
            int k = fold.GetProperty("fold").GetInt32();
            string run = Path.Combine(cvFolder, $"fold-{k}");
            using var history = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "history.json")));
            double seconds = history.RootElement.EnumerateArray().Sum(e => e.GetProperty("seconds").GetDouble());
            side.TrainRate.Add(fold.GetProperty("train_images").GetInt32() * history.RootElement.GetArrayLength() / seconds);
            using var predictor = Predictor.Load(Path.Combine(run, "model.lumen"));
            var held = heldOut(k);
            var clock = Stopwatch.StartNew();
            var found = held.Select(item => (IReadOnlyList<DetectedBox>)predictor.PredictBoxes(item.Path, BoxDecoding.Evaluation).Boxes
                .Select(b => new DetectedBox(IndexOf(classes, b.Label), b.Score, b.XMin, b.YMin, b.XMax, b.YMax)).ToList()).ToList();
            side.PredictRate.Add(held.Count / clock.Elapsed.TotalSeconds);
            var figures = AveragePrecision.Compute(found, Truths(held, classes), classes.Count);
            side.Ap50.Add(figures.Ap50);
            side.Ap.Add(figures.Ap);
        }
        return side;
    }

    private static Side? TorchvisionFcos(string work, string foldsFile, int size, int epochs, int freezeEpochs, int batchSize, int folds,
        Func<int, List<LabelledItem>> heldOut, IReadOnlyList<string> classes)
    {
        var side = new Side(new(), new(), new(), new());
        bool ran = PythonBaseline.Run(work, "fcos_recipe.py",
            $"--folds-file \"{foldsFile}\" --size {size} --epochs {epochs} --freeze-epochs {freezeEpochs} --bs {batchSize}", line =>
            {
                if (!line.StartsWith("fold=", StringComparison.Ordinal)) return;
                int k = (int)PythonBaseline.Field(line, "fold");
                side.TrainRate.Add(PythonBaseline.Field(line, "train_img_s"));
                side.PredictRate.Add(PythonBaseline.Field(line, "predict_img_s"));
                var held = heldOut(k);
                using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(work, $"detections-fold{k}.json")));
                var byPath = doc.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("path").GetString()!, e => (IReadOnlyList<DetectedBox>)e.GetProperty("boxes").EnumerateArray()
                    .Select(b => new DetectedBox(b[5].GetInt32(), (float)b[4].GetDouble(), (float)b[0].GetDouble(), (float)b[1].GetDouble(), (float)b[2].GetDouble(), (float)b[3].GetDouble())).ToList());
                var figures = AveragePrecision.Compute(held.Select(i => byPath[i.Path]).ToList(), Truths(held, classes), classes.Count);
                side.Ap50.Add(figures.Ap50);
                side.Ap.Add(figures.Ap);
            });
        return ran ? side : null;
    }
}
