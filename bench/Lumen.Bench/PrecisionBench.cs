using System.Diagnostics;
using System.Text.Json;
using Lumen.Data;
using Lumen.Imaging;
using Lumen.Inference;

namespace Lumen.Bench;

/// <summary>
/// Reduced precision, cross-validated: for every finished fold of a `lumen cv` folder, the fold's model
/// is calibrated for int8 on up to 64 of that fold's training images (every image of --data that is not
/// in the fold), then float32 (ONNX Runtime), int8 (ONNX Runtime, QDQ) and bfloat16 (LibTorch) each
/// predict the fold's held-out images: accuracy per fold, the mean change against float32, and images/s
/// at batch 32 on the same prepared images.
/// Usage: precision &lt;cv-folder&gt; [--data samples/brain-mri] [--seconds 6]
/// </summary>
internal static class PrecisionBench
{
    private sealed record FoldPrediction(string Path, int Fold, string Actual);

    private sealed record FoldFile(List<FoldPrediction> Predictions);

    public static int Run(string[] args)
    {
        string cv = Program.Positional(args) ?? throw new LumenException("precision needs a `lumen cv` output folder");
        string data = Program.Option(args, "--data", Program.DefaultData());
        double seconds = double.Parse(Program.Option(args, "--seconds", "6"), System.Globalization.CultureInfo.InvariantCulture);
        var all = FolderSource.ImageFiles(data).Select(Path.GetFullPath).ToList();
        string work = Path.Combine(Path.GetTempPath(), "lumen-precision-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        var json = new JsonSerializerOptions { PropertyNameCaseInsensitive = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        var variants = new (string Name, PredictorOptions Options)[]
        {
            ("float32", new PredictorOptions { Engine = InferenceEngine.Onnx, Precision = InferencePrecision.Float32 }),
            ("int8", new PredictorOptions { Precision = InferencePrecision.Int8 }),
            ("bfloat16", new PredictorOptions { Precision = InferencePrecision.BFloat16 }),
        };
        var accuracy = variants.ToDictionary(v => v.Name, _ => new List<double>());
        var speed = variants.ToDictionary(v => v.Name, _ => new List<double>());
        Console.WriteLine($"precision benchmark: {cv}, {Environment.ProcessorCount} cores; accuracy on each fold's held-out images, img/s at batch 32");
        foreach (string foldFile in Directory.GetFiles(cv, "cv-fold.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var fold = JsonSerializer.Deserialize<FoldFile>(File.ReadAllText(foldFile), json)!;
            var heldOut = fold.Predictions;
            var heldOutPaths = heldOut.Select(p => Path.GetFullPath(p.Path)).ToHashSet();
            var training = all.Where(p => !heldOutPaths.Contains(p)).ToList();
            string model = Path.Combine(work, $"fold-{heldOut[0].Fold}.lumen");
            File.Copy(Path.Combine(Path.GetDirectoryName(foldFile)!, "model.lumen"), model, overwrite: true);
            var info = ModelFile.ReadInfo(model);
            var calibrationImages = Int8Calibration.Spread(training).Select(info.Preprocessing.Prepare).ToList();
            ModelFile.AddCalibration(model, calibrationImages, $"{calibrationImages.Count} training images of fold {heldOut[0].Fold}");
            var prepared = heldOut.Select(p => info.Preprocessing.Prepare(p.Path)).ToList();
            var line = new List<string>();
            foreach (var (name, options) in variants)
            {
                using var predictor = Predictor.Load(model, options);
                var predictions = predictor.PredictBatch(prepared);
                double acc = heldOut.Zip(predictions).Count(x => x.First.Actual == x.Second.Label) / (double)heldOut.Count;
                var batch = Enumerable.Range(0, 32).Select(i => prepared[i % prepared.Count]).ToList();
                predictor.PredictBatch(batch);
                var clock = Stopwatch.StartNew();
                int runs = 0;
                while (clock.Elapsed.TotalSeconds < seconds || runs < 2) { predictor.PredictBatch(batch); runs++; }
                double imagesPerSecond = runs * 32 / clock.Elapsed.TotalSeconds;
                accuracy[name].Add(acc);
                speed[name].Add(imagesPerSecond);
                line.Add($"{name} {acc:F3} ({imagesPerSecond:F1} img/s)");
            }
            Console.WriteLine($"fold {heldOut[0].Fold} ({heldOut.Count} held out): {string.Join(" | ", line)}");
        }
        foreach (var (name, _) in variants)
        {
            var diff = accuracy[name].Zip(accuracy["float32"], (a, b) => (a - b) * 100).ToList();
            Console.WriteLine($"{name,-8} accuracy {Mean(accuracy[name]):F3} ± {Sd(accuracy[name]):F3}; change vs float32 {Mean(diff):+0.00;-0.00} ± {Sd(diff):F2} points; "
                              + $"speed {Mean(speed[name]):F1} img/s = {Mean(speed[name]) / Mean(speed["float32"]):F2}x float32");
        }
        Directory.Delete(work, true);
        return 0;
    }

    private static double Mean(List<double> values) => values.Count == 0 ? double.NaN : values.Average();

    private static double Sd(List<double> values) => values.Count < 2 ? 0 : Math.Sqrt(values.Sum(v => (v - values.Average()) * (v - values.Average())) / (values.Count - 1));
}
