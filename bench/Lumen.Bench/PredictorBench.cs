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
/// Predictor latency (one image: p50/p95) and batch throughput, side by side with ONNX Runtime on the
/// exported graph of the same model. Usage: predict [model.lumen] [--size 224] [--seconds 8]
/// (without a model, a random-init resnet18 at --size is used: speed does not depend on the weights).
/// </summary>
internal static class PredictorBench
{
    public static int Run(string[] args)
    {
        double seconds = double.Parse(Program.Option(args, "--seconds", "8"), System.Globalization.CultureInfo.InvariantCulture);
        int size = int.Parse(Program.Option(args, "--size", "224"));
        string work = Path.Combine(Path.GetTempPath(), "lumen-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        string modelPath = Program.Positional(args) ?? BenchModels.RandomModel(work, "resnet18", size);
        using var predictor = Predictor.Load(modelPath);
        size = predictor.Info.Preprocessing.Size;
        var image = RgbImage.Filled(size, size, 120, 80, 60);
        string onnx = Path.Combine(work, "model.onnx");
        using (var loaded = ModelFile.Load(modelPath)) OnnxExport.Write(loaded, onnx);
        using var session = new InferenceSession(onnx);
        var normalized = predictor.Info.Preprocessing.Normalization.Normalize(ImageTensor.Stack(new[] { image }, CPU));
        float[] one = normalized.data<float>().ToArray();

        Console.WriteLine($"predictor benchmark: {Path.GetFileName(modelPath)} ({predictor.Info.Spec.Architecture}, {size}px), ~{seconds}s per cell");
        var lumenLatency = Latencies(() => predictor.PredictBatch(new[] { image }), seconds);
        var ortLatency = Latencies(() => Run(session, one, 1, size), seconds);
        Console.WriteLine($"single image  lumen p50 {P(lumenLatency, 50),6:F1} ms p95 {P(lumenLatency, 95),6:F1} ms | onnxruntime p50 {P(ortLatency, 50),6:F1} ms p95 {P(ortLatency, 95),6:F1} ms | lumen/ort (p50) {P(lumenLatency, 50) / P(ortLatency, 50):F2}x");
        foreach (int bs in new[] { 8, 32 })
        {
            var batch = Enumerable.Repeat(image, bs).ToList();
            float[] many = Enumerable.Range(0, bs).SelectMany(_ => one).ToArray();
            double lumen = Throughput(() => predictor.PredictBatch(batch), bs, seconds);
            double ort = Throughput(() => Run(session, many, bs, size), bs, seconds);
            Console.WriteLine($"batch {bs,2}      lumen {lumen,6:F1} img/s | onnxruntime {ort,6:F1} img/s | lumen/ort {lumen / ort:F2}x");
        }
        Directory.Delete(work, true);
        return 0;
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
    public static string RandomModel(string folder, string arch, int size)
    {
        using var model = VisionModel.Create(arch, 4, weights: "none");
        model.eval();
        var training = new TrainingInfo(new Dictionary<string, double>(), 0, 42, DateTime.UtcNow, "bench", "", 0, 0, "cross_entropy", Lumen.Augment.AugmentOptions.Default);
        string path = Path.Combine(folder, $"{arch}-random.lumen");
        ModelFile.Save(model, new[] { "a", "b", "c", "d" }, false, 0.5, new Preprocessing(size, ResizeMethod.Crop, PadMode.Reflection, model.Normalization), training, path);
        return path;
    }
}
