using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lumen.Data;
using Lumen.Data.Masks;
using Lumen.Inference;
using Lumen.Workflows;

namespace Lumen.Bench;

/// <summary>
/// Segmentation quality and speed against the tool users would pick instead: the same k folds of a
/// folder of images and masks (default 5 folds of ../shared/data/kvasir-seg-dev), trained and scored
/// with Lumen's default <c>lumen cv</c> recipe (plus any <c>lumen</c> flags after <c>--</c>) and with
/// fastai's unet_learner recipe in plain PyTorch (bench/python/unet_recipe.py, the same DynamicUnet
/// design on the same ImageNet ResNet-18 weights, Debian's python3-torch), at the same size and epochs,
/// both scored at each held-out image's own size; Dice per image side by side with mean ± sd, and
/// training and prediction images/s of both in the same run.
/// Usage: segment [folder] [--folds 5] [--size 128] [--epochs 8] [--freeze-epochs 1] [--bs 16] [--skip-python] [--skip-lumen] [-- lumen cv flags]
/// </summary>
internal static class SegmentBench
{
    public static int Run(string[] args)
    {
        int dashes = Array.IndexOf(args, "--");
        string[] lumenFlags = dashes >= 0 ? args[(dashes + 1)..] : Array.Empty<string>();
        args = dashes >= 0 ? args[..dashes] : args;
        string folder = Path.GetFullPath(Program.Positional(args) ?? Program.RepoFile("..", "shared", "data", "kvasir-seg-dev"));
        int folds = Int(args, "--folds", "5"), size = Int(args, "--size", "128"), epochs = Int(args, "--epochs", "8");
        int freezeEpochs = Int(args, "--freeze-epochs", "1"), batchSize = Int(args, "--bs", "16");
        const int seed = 42;
        string work = Directory.CreateTempSubdirectory("lumen-segment-").FullName;
        Console.WriteLine($"segmentation benchmark: {folder}, {folds} folds (seed {seed}), {size} px, bs {batchSize}, {freezeEpochs} frozen + {epochs} epochs; work folder {work}");

        // The folds, written once for both sides (Lumen's own k-fold split of the pairs).
        var layout = SegmentationSource.RecogniseLayout(folder) ?? throw new LumenException($"'{folder}' has no images/ and masks/ folders");
        var items = SegmentationSource.Scan(layout.Images, layout.Masks, SegmentationSource.FindEncoding(folder, layout.Masks)).Items;
        var foldOf = Splitter.FoldOf(items, folds, seed);
        string foldsFile = Path.Combine(work, "folds.csv");
        File.WriteAllLines(foldsFile, new[] { "path,mask,fold" }.Concat(items.Select((item, i) => $"{item.Path},{item.Mask!.Path},{foldOf[i] + 1}")));

        var python = args.Contains("--skip-python") ? null : PythonUnet(work, foldsFile, size, epochs, freezeEpochs, batchSize);
        var lumen = args.Contains("--skip-lumen") ? null : LumenRecipe(folder, work, folds, seed, size, epochs, freezeEpochs, batchSize, lumenFlags,
            fold => items.Where((_, i) => foldOf[i] + 1 == fold).ToList());

        Console.WriteLine();
        Console.WriteLine($"{"fold",-10}{"Lumen dice/img",16}{"PyTorch dice/img",18}");
        for (int k = 0; k < folds; k++)
            Console.WriteLine($"{k + 1,-10}{Cell(lumen?.Dice, k),16}{Cell(python?.Dice, k),18}");
        Console.WriteLine($"{"mean ± sd",-10}{Summary(lumen?.Dice),16}{Summary(python?.Dice),18}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"train img/s",-10}{Rate(lumen?.TrainRate),16}{Rate(python?.TrainRate),18}\n{"predict img/s",-10}{Rate(lumen?.PredictRate),14}{Rate(python?.PredictRate),18}"));
        if (lumen?.Dice.Count == folds && python?.Dice.Count == folds)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Lumen − PyTorch unet_learner recipe: {(lumen.Dice.Average() - python.Dice.Average()) * 100:+0.0;-0.0} points of mean Dice per image; "
                + $"training {lumen.TrainRate.Average() / python.TrainRate.Average():F2}x, prediction {lumen.PredictRate.Average() / python.PredictRate.Average():F2}x"));
        return 0;
    }

    private sealed record Side(List<double> Dice, List<double> TrainRate, List<double> PredictRate);

    private static int Int(string[] args, string name, string fallback) => int.Parse(Program.Option(args, name, fallback), CultureInfo.InvariantCulture);

    private static string Cell(List<double>? values, int k) => values is not null && k < values.Count ? values[k].ToString("F4", CultureInfo.InvariantCulture) : "-";

    private static string Summary(List<double>? values) => values is { Count: > 0 } ? MeanSd.Of(values).ToString() : "-";

    private static string Rate(List<double>? values) => values is { Count: > 0 } ? values.Average().ToString("F1", CultureInfo.InvariantCulture) : "-";

    /// <summary>
    /// <c>lumen cv</c> with the given recipe; training images/s from each fold's epochs (their seconds
    /// include the epoch's validation pass), prediction images/s of each fold's model on its held-out
    /// images at their own size (decode, forward, resize to the image, argmax).
    /// </summary>
    /// <param name="heldOut">The held-out images of a 1-based fold (the split lumen cv makes with the same seed).</param>
    private static Side LumenRecipe(string folder, string work, int folds, int seed, int size, int epochs, int freezeEpochs, int batchSize, string[] flags,
        Func<int, List<LabelledItem>> heldOut)
    {
        string cvFolder = Path.Combine(work, "lumen-cv");
        var args = new[] { "cv", folder, "--folds", Str(folds), "--seed", Str(seed), "--size", Str(size), "--epochs", Str(epochs),
            "--freeze-epochs", Str(freezeEpochs), "--bs", Str(batchSize), "--out", cvFolder }.Concat(flags).ToArray();
        Console.WriteLine($"lumen {string.Join(' ', args)}");
        var watch = Stopwatch.StartNew();
        int code = Lumen.Cli.Program.Main(args);
        if (code != 0) throw new LumenException($"lumen cv failed with exit code {code}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"lumen: {watch.Elapsed.TotalMinutes:F1} min for {folds} folds"));
        using var cv = JsonDocument.Parse(File.ReadAllText(Path.Combine(cvFolder, "cv.json")));
        var side = new Side(new(), new(), new());
        foreach (var fold in cv.RootElement.GetProperty("per_fold").EnumerateArray())
        {
            side.Dice.Add(fold.GetProperty("metrics").GetProperty("dice_per_image").GetDouble());
            int k = fold.GetProperty("fold").GetInt32();
            string run = Path.Combine(cvFolder, $"fold-{k}");
            using var history = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "history.json")));
            double seconds = history.RootElement.EnumerateArray().Sum(e => e.GetProperty("seconds").GetDouble());
            int epochsRun = history.RootElement.GetArrayLength();
            side.TrainRate.Add(fold.GetProperty("train_images").GetInt32() * epochsRun / seconds);
            using var predictor = Predictor.Load(Path.Combine(run, "model.lumen"));
            var held = heldOut(k);
            var clock = Stopwatch.StartNew();
            foreach (var item in held) predictor.PredictMask(item.Path);
            side.PredictRate.Add(held.Count / clock.Elapsed.TotalSeconds);
        }
        return side;
    }

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static Side? PythonUnet(string work, string foldsFile, int size, int epochs, int freezeEpochs, int batchSize)
    {
        var side = new Side(new(), new(), new());
        bool ran = PythonBaseline.Run(work, "unet_recipe.py",
            $"--folds-file \"{foldsFile}\" --size {size} --epochs {epochs} --freeze-epochs {freezeEpochs} --bs {batchSize}", line =>
            {
                if (!line.StartsWith("fold=", StringComparison.Ordinal)) return;
                side.Dice.Add(PythonBaseline.Field(line, "dice_per_image"));
                side.TrainRate.Add(PythonBaseline.Field(line, "train_img_s"));
                side.PredictRate.Add(PythonBaseline.Field(line, "predict_img_s"));
            });
        return ran ? side : null;
    }
}
