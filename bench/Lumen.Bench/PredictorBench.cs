using System.Diagnostics;
using Lumen.Data;
using Lumen.Augment;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;

namespace Lumen.Bench;

/// <summary>
/// Prediction speed, every engine in one run on one model: Lumen's Predictor on the ONNX engine and on
/// the torch engine, a bare ONNX Runtime session (default options) on the exported graph, and PyTorch 1.13
/// (Debian's python3) on torchvision's resnet18; single-image latency and batch throughput on already-decoded
/// tensors. Then, with a folder, end to end: files decoded, predicted and written to a CSV exactly as
/// `lumen predict --csv` does (BulkPrediction + PredictionCsv), against the bare session's throughput on
/// already-decoded tensors at the same batch size.
/// Usage: predict [model.lumen] [--size 224] [--seconds 8] [--folder DIR] [--copies 6] [--bs 16] [--rounds 3]
/// (without a model, a random-init resnet18 at --size is used: speed does not depend on the weights;
/// without --folder, the bundled sample is copied --copies times into a temporary folder).
/// </summary>
internal static class PredictorBench
{
    public static int Run(string[] args)
    {
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        double seconds = double.Parse(Program.Option(args, "--seconds", "8"), culture);
        int size = int.Parse(Program.Option(args, "--size", "224"));
        int bulkBatch = int.Parse(Program.Option(args, "--bs", "16"));
        int copies = int.Parse(Program.Option(args, "--copies", "6"));
        string work = Path.Combine(Path.GetTempPath(), "lumen-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        string modelPath = Program.Positional(args) ?? BenchModels.RandomModel(work, "resnet18", size);
        modelPath = BenchModels.Calibrated(modelPath, work);
        using var onnxPredictor = Predictor.Load(modelPath, new PredictorOptions { Engine = InferenceEngine.Onnx, Precision = InferencePrecision.Float32 });
        using var int8Predictor = Predictor.Load(modelPath, new PredictorOptions { Precision = InferencePrecision.Int8 });
        using var torchPredictor = Predictor.Load(modelPath, new PredictorOptions { Engine = InferenceEngine.Torch });
        size = onnxPredictor.Info.Preprocessing.Size;
        var image = RgbImage.Filled(size, size, 120, 80, 60);
        string onnx = Path.Combine(work, "model.onnx");
        using (var loaded = ModelFile.Load(modelPath)) OnnxExport.Write(loaded, onnx);
        using var session = new InferenceSession(onnx);
        var normalized = onnxPredictor.Info.Preprocessing.Normalization.Normalize(ImageTensor.Stack(new[] { image }, CPU));
        float[] one = normalized.data<float>().ToArray();
        var python = Program.RunPython("predict_speed.py", $"--size {size} --seconds {seconds.ToString(culture)} --threads {Environment.ProcessorCount} --classes {onnxPredictor.Classes.Count}");

        Console.WriteLine($"predictor benchmark: {Path.GetFileName(modelPath)} ({onnxPredictor.Info.Spec.Architecture}, {size}px), {Environment.ProcessorCount} cores, ~{seconds}s per cell; img/s on decoded tensors");
        var onnxLatency = Latencies(() => onnxPredictor.PredictBatch(new[] { image }), seconds);
        var int8Latency = Latencies(() => int8Predictor.PredictBatch(new[] { image }), seconds);
        var torchLatency = Latencies(() => torchPredictor.PredictBatch(new[] { image }), seconds);
        var ortLatency = Latencies(() => Run(session, one, 1, size), seconds);
        Console.WriteLine($"single image p50  lumen-onnx {P(onnxLatency, 50),6:F1} ms | lumen-int8 {P(int8Latency, 50),6:F1} ms | lumen-torch {P(torchLatency, 50),6:F1} ms | bare onnxruntime {P(ortLatency, 50),6:F1} ms"
                          + (python is null ? "" : $" | pytorch {1000 / python["bs1"],6:F1} ms (mean)") + $" | lumen-onnx/ort {P(ortLatency, 50) / P(onnxLatency, 50):F2}x speed");
        double ortAtBulk = 0;
        foreach (int bs in new[] { 8, 32 }.Union(new[] { bulkBatch }))
        {
            var batch = Enumerable.Repeat(image, bs).ToList();
            float[] many = Enumerable.Range(0, bs).SelectMany(_ => one).ToArray();
            double lumenOnnx = Throughput(() => onnxPredictor.PredictBatch(batch), bs, seconds);
            double lumenInt8 = Throughput(() => int8Predictor.PredictBatch(batch), bs, seconds);
            double lumenTorch = Throughput(() => torchPredictor.PredictBatch(batch), bs, seconds);
            double ort = Throughput(() => Run(session, many, bs, size), bs, seconds);
            if (bs == bulkBatch) ortAtBulk = ort;
            string torchColumn = python is not null && python.TryGetValue($"bs{bs}", out double py) ? $" | pytorch {py,6:F1}" : "";
            Console.WriteLine($"batch {bs,2}  lumen-onnx {lumenOnnx,6:F1} | lumen-int8 {lumenInt8,6:F1} | lumen-torch {lumenTorch,6:F1} | bare onnxruntime {ort,6:F1}{torchColumn} | lumen-onnx/ort {lumenOnnx / ort:F2}x, lumen-int8/ort {lumenInt8 / ort:F2}x, lumen-torch/ort {lumenTorch / ort:F2}x");
        }

        string folder = Program.Option(args, "--folder", "");
        if (folder.Length == 0)
        {
            folder = Path.Combine(work, "images");
            var sample = FolderSource.ImageFiles(Program.DefaultData()).ToList();
            for (int c = 0; c < copies; c++)
                foreach (var file in sample)
                {
                    string target = Path.Combine(folder, $"copy{c}", Path.GetRelativePath(Program.DefaultData(), file));
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    File.Copy(file, target);
                }
        }
        var files = FolderSource.ImageFiles(folder).ToList();
        var decodeClock = Stopwatch.StartNew();
        foreach (var chunk in files.Chunk(bulkBatch)) onnxPredictor.PrepareMany(chunk);
        Console.WriteLine($"folder   {files.Count} files, decode + resize alone ({Environment.ProcessorCount} workers): {files.Count / decodeClock.Elapsed.TotalSeconds:F1} img/s");

        // Lumen end to end (decode + predict + CSV, as `lumen predict --csv`) alternates with the bare
        // session on already-decoded tensors, the same number of images each, so this VM's speed drifts
        // (up to 2x) hit both sides alike; the ratio is of the summed rates.
        int rounds = int.Parse(Program.Option(args, "--rounds", "3"));
        float[] decodedBatch = Enumerable.Range(0, bulkBatch).SelectMany(_ => one).ToArray();
        var folderSeconds = new Dictionary<string, double> { ["ort"] = 0, ["float32"] = 0, ["int8"] = 0 };
        for (int round = 1; round <= rounds; round++)
        {
            int ortImages = (files.Count + bulkBatch - 1) / bulkBatch * bulkBatch;
            var clock = Stopwatch.StartNew();
            for (int done = 0; done < ortImages; done += bulkBatch) Run(session, decodedBatch, bulkBatch, size);
            double ortRate = ortImages / clock.Elapsed.TotalSeconds;
            folderSeconds["ort"] += files.Count / ortRate;
            var line = $"folder   round {round}: bare onnxruntime float32 on decoded tensors {ortRate,6:F1} img/s";
            foreach (var (name, predictor) in new[] { ("float32", onnxPredictor), ("int8", int8Predictor) })
            {
                double elapsed = PredictFolder(predictor, files, bulkBatch, Path.Combine(work, "predictions.csv"));
                folderSeconds[name] += elapsed;
                line += $" | lumen {name} (decode + predict + CSV) {files.Count / elapsed,6:F1} img/s = {files.Count / elapsed / ortRate:F2}x";
            }
            Console.WriteLine(line);
        }
        Console.WriteLine($"folder   {files.Count} files at batch {bulkBatch}, {rounds} rounds: bare onnxruntime {files.Count * rounds / folderSeconds["ort"]:F1} img/s"
                          + $" | lumen float32 {files.Count * rounds / folderSeconds["float32"]:F1} img/s = {folderSeconds["ort"] / folderSeconds["float32"]:F2}x"
                          + $" | lumen int8 {files.Count * rounds / folderSeconds["int8"]:F1} img/s = {folderSeconds["ort"] / folderSeconds["int8"]:F2}x");
        Directory.Delete(work, true);
        return 0;
    }

    /// <summary>Seconds to predict <paramref name="files"/> into a CSV exactly as <c>lumen predict --csv</c> does.</summary>
    private static double PredictFolder(Predictor predictor, IReadOnlyList<string> files, int batchSize, string csvPath)
    {
        var clock = Stopwatch.StartNew();
        using (var csv = PredictionCsv.Open(csvPath, 3, resume: false))
        {
            foreach (var rows in BulkPrediction.Run(predictor, files, new BulkPredictionOptions { BatchSize = batchSize }).Chunk(batchSize))
            {
                csv.Write(rows);
                csv.Flush();
            }
            csv.Complete();
        }
        return clock.Elapsed.TotalSeconds;
    }

    private static void Run(InferenceSession session, float[] input, int n, int size)
    {
        var tensor = new DenseTensor<float>(input, new[] { n, 3, size, size });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("input", tensor) });
    }

    private static List<double> Latencies(Action action, double seconds)
    {
        action();
        var result = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds || result.Count < 5)
        {
            var clock = Stopwatch.StartNew();
            action();
            result.Add(clock.Elapsed.TotalMilliseconds);
        }
        result.Sort();
        return result;
    }

    private static double Throughput(Action action, int n, double seconds)
    {
        action();
        var clock = Stopwatch.StartNew();
        int runs = 0;
        while (clock.Elapsed.TotalSeconds < seconds || runs < 2) { action(); runs++; }
        return runs * n / clock.Elapsed.TotalSeconds;
    }

    internal static double P(List<double> sorted, int percentile) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1)];
}

/// <summary>Model files for benchmarks that need one but not its accuracy.</summary>
internal static class BenchModels
{
    /// <summary>
    /// <paramref name="modelPath"/> if it has its int8 calibration (as every model `lumen train` writes),
    /// else a copy in <paramref name="work"/> calibrated on the bundled sample.
    /// </summary>
    public static string Calibrated(string modelPath, string work)
    {
        using var loaded = ModelFile.Load(modelPath);
        if (loaded.Calibration is not null) return modelPath;
        string calibrated = Path.Combine(work, "calibrated-" + Path.GetFileName(modelPath));
        File.Copy(modelPath, calibrated, overwrite: true);
        var sample = Int8Calibration.Spread(FolderSource.ImageFiles(Program.DefaultData()).ToList());
        ModelFile.AddCalibration(calibrated, sample.Select(loaded.Info.Preprocessing.Prepare).ToList(), "bench sample");
        return calibrated;
    }

    public static string RandomModel(string folder, string arch, int size)
    {
        using var model = VisionModel.Create(arch, 4, weights: "none");
        model.eval();
        var training = new TrainingInfo(new Dictionary<string, double>(), 0, 42, DateTime.UtcNow, "bench", "", 0, 0, "cross_entropy", Lumen.Augment.AugmentOptions.Default);
        string path = Path.Combine(folder, $"{arch}-random.lumen");
        ModelFile.Save(model, new[] { "a", "b", "c", "d" }, Lumen.Tasks.ImageTask.SingleLabel, 0.5, new Preprocessing(size, ResizeMethod.Crop, PadMode.Reflection, model.Normalization), training, path);
        return path;
    }
}
