using System.Diagnostics;
using System.Text.Json;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Interpret;
using Lumen.Models;
using Lumen.Tests.Support;
using Lumen.Training;
using SkiaSharp;
using static TorchSharp.torch;

namespace Lumen.Tests;

public class InterpretationTests
{
    private static readonly string[] Classes = { "a", "b", "c" };

    /// <summary>8 items with known predictions: argmax 0,0,1,1,2,2,0,2 for targets 0,0,1,2,2,2,1,1.</summary>
    private static ClassificationInterpretation HandMade(TempFolder dir)
    {
        long[] predicted = { 0, 0, 1, 1, 2, 2, 0, 2 };
        long[] actual = { 0, 0, 1, 2, 2, 2, 1, 1 };
        var logits = zeros(8, 3);
        for (int i = 0; i < 8; i++)
        {
            logits[i, predicted[i]] = tensor(2f + i * 0.1f);
            logits[i, (predicted[i] + 1) % 3] = tensor(0.5f);
        }
        var items = actual.Select((a, i) =>
        {
            string path = dir.Write($"{Classes[a]}/img{i}.png", TestImages.Encode(TestImages.Pattern(20, 20, i), SKEncodedImageFormat.Png));
            return new LabelledItem(path, Classes[a]);
        }).ToList();
        var targets = tensor(actual);
        var predictions = new Predictions(logits, targets, Loss.CrossEntropy().PerItem(logits, targets), items, Lumen.Tasks.ImageTask.SingleLabel);
        var model = VisionModel.Create("resnet18", 3, weights: "none");
        return ClassificationInterpretation.FromPredictions(predictions, Classes, model, new Preprocessing(16, ResizeMethod.Crop, PadMode.Reflection, Normalization.ImageNet));
    }

    [Fact]
    public void ConfusionMostConfusedAndReportMatchHandComputedValues()
    {
        using var dir = new TempFolder();
        using var interp = HandMade(dir);
        var m = interp.ConfusionMatrix();
        Assert.Equal(new long[,] { { 2, 0, 0 }, { 1, 1, 1 }, { 0, 1, 2 } }, m);
        Assert.Equal(new[] { new ConfusedPair("b", "a", 1), new ConfusedPair("b", "c", 1), new ConfusedPair("c", "b", 1) }, interp.MostConfused());
        Assert.Empty(interp.MostConfused(minCount: 2));

        var report = interp.Report();
        Assert.Equal(new ClassScores("a", 2.0 / 3, 1, 0.8, 2), report.Classes[0]);
        Assert.Equal(0.5, report.Classes[1].Precision, 9);
        Assert.Equal(1.0 / 3, report.Classes[1].Recall, 9);
        Assert.Equal(2.0 / 3, report.Classes[2].F1, 9);
        Assert.Equal((0.8 + 0.4 + 2.0 / 3) / 3, report.MacroAverage.F1, 9);
        Assert.Equal((0.8 * 2 + 0.4 * 3 + 2.0 / 3 * 3) / 8, report.WeightedAverage.F1, 9);
        Assert.Equal(5.0 / 8, report.Accuracy, 9);
        Assert.Equal(19.0 / 42, report.Mcc!.Value, 9);
    }

    [Fact]
    public void TopLossesAreSortedAndDescribeTheItems()
    {
        using var dir = new TempFolder();
        using var interp = HandMade(dir);
        var top = interp.TopLosses(8);
        Assert.Equal(8, top.Count);
        Assert.True(top.Zip(top.Skip(1)).All(p => p.First.Loss >= p.Second.Loss));
        float[] losses = interp.Predictions.Losses.data<float>().ToArray();
        Assert.Equal(losses.Max(), top[0].Loss);
        Assert.All(top, t =>
        {
            Assert.Equal(losses[t.Index], t.Loss);
            Assert.Equal(interp.Predictions.Items[t.Index].Labels[0], t.Actual);
            Assert.Equal((float)Math.Exp(-t.Loss), t.ProbabilityOfActual, 4); // cross-entropy = −log p(actual)
        });
        Assert.NotEqual(top[0].Predicted, top[0].Actual);
    }

    [Fact]
    public void ExpectedCalibrationErrorOnAHandMadeCase()
    {
        // Bin 0.9–1.0: confidences 0.95 and 0.95, one right → |0.5 − 0.95| · 2/4.
        // Bin 0.6–0.7: confidences 0.65 and 0.65, both right → |1 − 0.65| · 2/4.
        var c = Calibration.Compute(new[] { 0.95, 0.95, 0.65, 0.65 }, new[] { true, false, true, true });
        Assert.Equal(0.45 * 0.5 + 0.35 * 0.5, c.Ece, 9);
        Assert.Equal(2, c.BinCount[9]);
        Assert.Equal(0.5, c.BinAccuracy[9], 9);
        Assert.True(double.IsNaN(c.BinAccuracy[0]));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void FiguresMetricsJsonAndReportAreWrittenAndAgree()
    {
        using var dir = new TempFolder();
        using var interp = HandMade(dir);
        string outDir = dir.File("out");
        var written = InterpretationArtifacts.Write(outDir, new ReportContent { Title = "test <report>", Interpretation = interp, TopLosses = 4, GradCam = true });
        foreach (string name in new[] { "confusion_matrix.png", "confusion_matrix_normalized.png", "confused_pair_1.png", "calibration.png", "top_losses.png", "top_losses_gradcam.png", "metrics.json", "report.html" })
            Assert.Contains(Path.Combine(outDir, name), written);
        foreach (string png in written.Where(p => p.EndsWith(".png")))
            Assert.True(ImageDecoder.Decode(png).Width > 100, png);

        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")));
        var matrix = doc.RootElement.GetProperty("confusion_matrix").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        long diagonal = matrix.Select((r, i) => r[i]).Sum(), total = matrix.SelectMany(r => r).Sum();
        Assert.Equal((double)diagonal / total, doc.RootElement.GetProperty("metrics").GetProperty("accuracy").GetDouble(), 9);
        Assert.Equal(8, total);
        // One key style throughout, as the metric names: snake_case (class names are values, not keys).
        var keys = new List<string>();
        void Collect(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object) foreach (var p in e.EnumerateObject()) { keys.Add(p.Name); Collect(p.Value); }
            else if (e.ValueKind == JsonValueKind.Array) foreach (var v in e.EnumerateArray()) Collect(v);
        }
        Collect(doc.RootElement);
        Assert.Contains("probability_of_actual", keys);
        Assert.All(keys, k => Assert.Matches("^[a-z0-9_]+$", k));

        string html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("test &lt;report&gt;", html);
        Assert.Contains("data:image/png;base64,", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
    }

    [Trait("Category", Category.Browser)]
    [Trait("Category", Category.Slow)]
    [ToolFact(Tools.Chromium)]
    public void ReportRendersInHeadlessChromium()
    {
        const string chromium = "/usr/bin/chromium";
        using var dir = new TempFolder();
        using var interp = HandMade(dir);
        string report = dir.File("report.html");
        HtmlReport.Write(report, new ReportContent { Title = "render check", Interpretation = interp, TopLosses = 4, GradCam = false });
        string shot = dir.File("report.png");
        var psi = new ProcessStartInfo(chromium)
        {
            ArgumentList = { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", $"--user-data-dir={dir.File("profile")}", "--hide-scrollbars", "--window-size=1200,1600",
                $"--screenshot={shot}", new Uri(report).AbsoluteUri },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(psi)!;
        process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEndAsync();
        Assert.True(process.WaitForExit(120_000), "chromium did not finish");
        var image = ImageDecoder.Decode(shot);
        Assert.Equal(1200, image.Width);
        // The header band is dark blue (#12355b): the page really rendered, with its styles.
        var (r, g, b) = image[20, 20];
        Assert.True(r < 40 && g > 40 && g < 70 && b > 80, $"header pixel {r},{g},{b}");
    }


    [Fact]
    public void InterpretationWithoutTtaHasNoTtaMetricsAndWithTtaHasBoth()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 6, size: 32);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4 }, Augment = AugmentOptions.None });
        var learner = VisionLearner.Create(data, "resnet18", pretrained: false);
        using (var plain = ClassificationInterpretation.FromLearner(learner)) Assert.Null(plain.TtaMetrics);
        using var tta = ClassificationInterpretation.FromLearner(learner, tta: 2);
        Assert.Equal(tta.Metrics.Keys.OrderBy(k => k), tta.TtaMetrics!.Keys.OrderBy(k => k));
    }
}

/// <summary>
/// Grad-CAM on a model trained for the purpose. Runs outside the parallel phase: dropout draws from
/// torch's process-wide generator, so another test training at the same time changed this model's
/// weights from run to run, and once in a while its accuracy fell short of the 90% the check needs
/// (the flaky failure). Alone, the run is the same every time.
/// </summary>
[Collection(nameof(MemoryCollection))]
public class GradCamTrainingTests
{
    [Trait("Category", Category.Slow)]
    [Fact]
    public void GradCamIsHighestWhereTheDecidingSquareIs()
    {
        // Class "square": a bright 32×32 square at a random place on dark noise; class "plain": noise only.
        const int size = 128, side = 32;
        using var dir = new TempFolder();
        var squares = new Dictionary<string, (int X, int Y)>();
        var random = new Random(5);
        for (int i = 0; i < 40; i++)
        {
            foreach (string cls in new[] { "square", "plain" })
            {
                var img = RgbImage.Filled(size, size, 0, 0, 0);
                for (int y = 0; y < size; y++) for (int x = 0; x < size; x++) { byte v = (byte)random.Next(60); img.Set(x, y, v, v, v); }
                if (cls == "square")
                {
                    int sx = random.Next(0, size - side), sy = random.Next(0, size - side);
                    for (int y = sy; y < sy + side; y++) for (int x = sx; x < sx + side; x++) img.Set(x, y, 250, 250, 250);
                    squares[dir.File(cls, $"{i:D2}.png")] = (sx, sy);
                }
                dir.Write($"{cls}/{i:D2}.png", TestImages.Encode(img, SKEncodedImageFormat.Png));
            }
        }
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(size), Loader = new LoaderOptions { BatchSize = 8 }, Augment = AugmentOptions.None });
        var learner = VisionLearner.Create(data, "resnet18");
        learner.FitOneCycle(3, 1e-2);
        Assert.True(learner.History[^1].Metrics["accuracy"] >= 0.9, $"the model must learn the task first: accuracy {learner.History[^1].Metrics["accuracy"]:P0}");
        using var interp = ClassificationInterpretation.FromLearner(learner);
        var validSquares = interp.Predictions.Items.Where(i => i.Labels[0] == "square").ToList();
        var images = validSquares.Select(interp.DisplayImage).ToList();
        var input = learner.Model.Normalization.Normalize(ImageTensor.Stack(images, CPU));
        var heat = GradCam.Compute(learner.Model, input, Enumerable.Repeat(learner.Data.Vocab.IndexOf("square"), validSquares.Count).ToList());
        int wins = 0;
        var log = new List<string>();
        for (int k = 0; k < validSquares.Count; k++)
        {
            var (sx, sy) = squares[validSquares[k].Path];
            var mask = zeros(size, size, ScalarType.Bool);
            mask[TensorIndex.Slice(sy, sy + side), TensorIndex.Slice(sx, sx + side)] = tensor(true);
            double inside = heat[k][mask].mean().item<float>(), outside = heat[k][~mask].mean().item<float>();
            if (inside > 1.5 * outside) wins++;
            log.Add($"{inside:F2}/{outside:F2}");
        }
        Assert.True(wins >= validSquares.Count * 0.75, $"Grad-CAM peaked on the square in {wins} of {validSquares.Count} images (inside/outside: {string.Join(", ", log)})");
        Assert.Equal(new long[] { validSquares.Count, size, size }, heat.shape);
        Assert.InRange(heat.max().item<float>(), 0.99f, 1.01f);
    }
}
