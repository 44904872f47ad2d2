using System.Diagnostics;
using Lumen.Data;

namespace Lumen.Bench;

/// <summary>
/// Lumen's benchmarks. Each prints its own figures and, when Debian's python3-torch/torchvision are
/// installed, runs the same work in PyTorch from the same process and prints Lumen/PyTorch ratios,
/// so both sides are measured on the same machine at the same time.
/// Usage: dotnet run -c Release --project bench/Lumen.Bench -- (data|train|predict|serve-load|serve-soak|fuzz|fuzz-models|quality) [options]
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string command = args.FirstOrDefault() ?? "data";
        var rest = args.Skip(1).ToArray();
        try
        {
            return command switch
            {
                "data" => DataPipelineBench.Run(rest),
                "train" => TrainingBench.Run(rest),
                "predict" => PredictorBench.Run(rest),
                "serve-load" => ServeLoadBench.Run(rest),
                "serve-soak" => ServeSoakBench.Run(rest),
                "fuzz" => FuzzBench.Run(rest),
                "fuzz-models" => FuzzModelsBench.Run(rest),
                "quality" => QualityBench.Run(rest),
                "segment" => SegmentBench.Run(rest),
                "detect" => DetectBench.Run(rest),
                "precision" => PrecisionBench.Run(rest),
                "train-mpi" => TrainMpiBench.Run(rest),
                _ => Usage($"unknown benchmark '{command}'"),
            };
        }
        catch (LumenException e)
        {
            Console.Error.WriteLine($"bench: error: {e.Message}");
            return 1;
        }
    }

    private static int Usage(string problem)
    {
        Console.Error.WriteLine($"bench: {problem}. Benchmarks: data, train, train-mpi, predict, precision, serve-load, serve-soak, fuzz, fuzz-models, quality, segment, detect");
        return 1;
    }

    internal static string Option(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    internal static string? Positional(string[] args) => args.FirstOrDefault(a => !a.StartsWith("--") && (Array.IndexOf(args, a) == 0 || !args[Array.IndexOf(args, a) - 1].StartsWith("--")));

    /// <summary>The repository's bundled brain-MRI sample (the default benchmark data; the same 480 images as ../shared/data/brain-mri-dev).</summary>
    internal static string DefaultData()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lumen.sln"))) dir = dir.Parent;
        return Path.GetFullPath(Path.Combine(dir?.FullName ?? ".", "samples", "brain-mri"));
    }

    internal static string RepoFile(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lumen.sln"))) dir = dir.Parent;
        return Path.Combine(new[] { dir?.FullName ?? "." }.Concat(parts).ToArray());
    }

    /// <summary>Runs a PyTorch baseline script with Debian's python3 and returns its "key=value" lines, or null.</summary>
    internal static Dictionary<string, double>? RunPython(string script, string arguments)
    {
        const string python = "/usr/bin/python3";
        if (!File.Exists(python)) { Console.WriteLine("PyTorch baseline skipped: /usr/bin/python3 not found"); return null; }
        var psi = new ProcessStartInfo(python, $"\"{RepoFile("bench", "python", script)}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            Console.WriteLine($"PyTorch baseline skipped: {error.Trim().Split('\n').LastOrDefault()} (install: apt-get install python3-torch python3-torchvision python3-pil)");
            return null;
        }
        return KeyValues(output);
    }

    /// <summary>The "key=number" lines of a worker's output (a terminal's escape codes before a key are skipped; they can contain '=').</summary>
    internal static Dictionary<string, double> KeyValues(string output) =>
        output.Split('\n').Select(l => System.Text.RegularExpressions.Regex.Match(l, @"(\b[a-z_0-9]+)=([-0-9.eE+]+)\s*$")).Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>
/// Data pipeline throughput: decode + resize/crop + batch augmentation + normalisation, images/s at a
/// given size, with 1 and 2 decode workers (and as many torch threads); the PyTorch side does the fastai pipeline with PIL and
/// torchvision (decode, Resize, RandomCrop, ToTensor, batch affine_grid/grid_sample, lighting).
/// </summary>
internal static class DataPipelineBench
{
    public static int Run(string[] args)
    {
        string folder = Program.Positional(args) ?? Program.DefaultData();
        int size = int.Parse(Program.Option(args, "--size", "224"));
        double seconds = double.Parse(Program.Option(args, "--seconds", "10"), System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine($"data pipeline benchmark: {folder}, size {size}, batch 64, default augmentation, ~{seconds}s per setting");
        var results = new Dictionary<int, double>();
        foreach (int workers in new[] { 1, 2 })
        {
            // Same thread budget as the PyTorch side: torch intra-op threads = workers.
            TorchSharp.torch.set_num_threads(workers);
            var options = new DataOptions { Item = new ItemTransform(size), Loader = new LoaderOptions { BatchSize = 64, Workers = workers } };
            var dls = ImageDataLoaders.FromFolder(folder, options);
            Measure(dls, 1); // warm-up: JIT, native library load, page cache
            results[workers] = Measure(dls, seconds);
            Console.WriteLine($"lumen   workers={workers}: {results[workers],7:F1} images/s");
        }
        var torch = Program.RunPython("data_pipeline.py", $"\"{folder}\" --size {size} --seconds {seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        if (torch is not null)
        {
            foreach (int workers in new[] { 1, 2 })
            {
                double baseline = torch[$"workers{workers}"];
                Console.WriteLine($"pytorch workers={workers}: {baseline,7:F1} images/s   lumen/pytorch = {results[workers] / baseline:F2}x");
            }
        }
        return 0;
    }

    private static double Measure(ImageDataLoaders dls, double seconds)
    {
        var clock = Stopwatch.StartNew();
        long images = 0;
        for (int epoch = 0; clock.Elapsed.TotalSeconds < seconds; epoch++)
        {
            foreach (var batch in dls.Train.Batches(epoch))
            {
                using (batch) images += batch.Count;
                if (clock.Elapsed.TotalSeconds >= seconds) break;
            }
        }
        return images / clock.Elapsed.TotalSeconds;
    }
}
