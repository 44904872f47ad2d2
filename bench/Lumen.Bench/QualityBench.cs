using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lumen.Data;
using Lumen.Workflows;

namespace Lumen.Bench;

/// <summary>
/// Model quality against the tool users would pick instead: the same stratified k folds of a labelled
/// folder (default 5 folds of the bundled samples/brain-mri at 224 px), trained and scored with Lumen's
/// default <c>lumen train</c> recipe (plus any extra <c>lumen</c> flags given after <c>--</c>, e.g.
/// <c>-- --epochs 12</c>) and with fastai's fine_tune recipe in plain PyTorch
/// (bench/python/fastai_recipe.py, Debian's python3-torch) from the same ImageNet ResNet-18 weights, in
/// one run, printed side by side with mean ± sd and the difference.
/// Usage: quality [folder] [--folds 5] [--size 224] [--python-epochs 4] [--skip-python] [--skip-lumen] [-- lumen cv flags]
/// </summary>
internal static class QualityBench
{
    public static int Run(string[] args)
    {
        int dashes = Array.IndexOf(args, "--");
        string[] lumenFlags = dashes >= 0 ? args[(dashes + 1)..] : Array.Empty<string>();
        args = dashes >= 0 ? args[..dashes] : args;
        string folder = Path.GetFullPath(Program.Positional(args) ?? Program.DefaultData());
        int folds = int.Parse(Program.Option(args, "--folds", "5"), CultureInfo.InvariantCulture);
        int size = int.Parse(Program.Option(args, "--size", "224"), CultureInfo.InvariantCulture);
        int pythonEpochs = int.Parse(Program.Option(args, "--python-epochs", "4"), CultureInfo.InvariantCulture);
        const int seed = 42;
        string work = Directory.CreateTempSubdirectory("lumen-quality-").FullName;
        Console.WriteLine($"quality benchmark: {folder}, {folds} folds (seed {seed}), {size} px; work folder {work}");

        // The folds, written once for both sides.
        var items = FolderSource.Scan(folder).Items;
        var foldOf = Splitter.FoldOf(items, folds, seed);
        string foldsFile = Path.Combine(work, "folds.csv");
        File.WriteAllLines(foldsFile, new[] { "path,label,fold" }.Concat(items.Select((item, i) => $"{item.Path},{item.Labels[0]},{foldOf[i] + 1}")));

        var python = args.Contains("--skip-python") ? null : PythonFastai(work, foldsFile, size, pythonEpochs);
        var lumen = args.Contains("--skip-lumen") ? null : LumenRecipe(folder, work, folds, seed, size, lumenFlags);

        Console.WriteLine();
        Console.WriteLine($"{"fold",-10}{"Lumen acc",12}{"PyTorch acc",14}");
        for (int k = 0; k < folds; k++)
            Console.WriteLine($"{k + 1,-10}{Cell(lumen, k),12}{Cell(python, k),14}");
        Console.WriteLine($"{"mean ± sd",-10}{Summary(lumen),14}{Summary(python),16}");
        if (lumen?.Count == folds && python?.Count == folds)
        {
            double difference = lumen.Average() - python.Average();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Lumen − PyTorch fastai recipe: {difference * 100:+0.0;-0.0} points of mean accuracy"));
        }
        return 0;
    }

    private static string Cell(List<double>? values, int k) => values is not null && k < values.Count ? values[k].ToString("F4", CultureInfo.InvariantCulture) : "-";

    private static string Summary(List<double>? values) => values is { Count: > 0 } ? MeanSd.Of(values).ToString() : "-";

    private static List<double> LumenRecipe(string folder, string work, int folds, int seed, int size, string[] flags)
    {
        string cvFolder = Path.Combine(work, "lumen-cv");
        var args = new[] { "cv", folder, "--folds", folds.ToString(CultureInfo.InvariantCulture), "--seed", seed.ToString(CultureInfo.InvariantCulture),
            "--size", size.ToString(CultureInfo.InvariantCulture), "--out", cvFolder }.Concat(flags).ToArray();
        Console.WriteLine($"lumen {string.Join(' ', args.Skip(2))}");
        var watch = Stopwatch.StartNew();
        int code = Lumen.Cli.Program.Main(args);
        if (code != 0) throw new LumenException($"lumen cv failed with exit code {code}");
        using var cv = JsonDocument.Parse(File.ReadAllText(Path.Combine(cvFolder, "cv.json")));
        var accuracies = cv.RootElement.GetProperty("per_fold").EnumerateArray().Select(f => f.GetProperty("metrics").GetProperty("accuracy").GetDouble()).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"lumen: {watch.Elapsed.TotalMinutes:F1} min for {folds} folds"));
        return accuracies;
    }

    private static List<double>? PythonFastai(string work, string foldsFile, int size, int epochs)
    {
        var accuracies = new List<double>();
        bool ran = PythonBaseline.Run(work, "fastai_recipe.py", $"--folds-file \"{foldsFile}\" --size {size} --epochs {epochs}", line =>
        {
            if (line.StartsWith("fold=", StringComparison.Ordinal)) accuracies.Add(PythonBaseline.Field(line, "accuracy"));
        });
        return ran ? accuracies : null;
    }
}
