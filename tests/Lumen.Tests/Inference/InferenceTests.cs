using System.IO.Compression;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Tests.Support;
using Lumen.Training;
using static TorchSharp.torch;

namespace Lumen.Tests;

public class InferenceTests
{
    /// <summary>A tiny trained model (random-init ResNet-18, 2 colour classes, 32 px) exported to a file.</summary>
    private static (Learner Learner, string ModelPath) TrainedTiny(TempFolder dir, bool multiLabel = false)
    {
        dir.AddClasses(new[] { "red", "green" }, 8, size: 40);
        var options = new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4 }, Augment = AugmentOptions.None };
        if (multiLabel)
        {
            var rows = Directory.GetFiles(dir.Path, "*.png", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal)
                .Select((f, i) => $"{Path.GetRelativePath(dir.Path, f)},{Path.GetFileName(Path.GetDirectoryName(f))}{(i % 3 == 0 ? " shiny" : "")}");
            File.WriteAllText(dir.File("labels.csv"), "file,labels\n" + string.Join("\n", rows));
        }
        var data = multiLabel ? ImageDataLoaders.FromCsv(dir.Path, "labels.csv", options) : ImageDataLoaders.FromFolder(dir.Path, options);
        var learner = VisionLearner.Create(data, "resnet18", pretrained: false);
        learner.FitOneCycle(1, 1e-3);
        string path = dir.File("model.lumen");
        learner.Export(path);
        return (learner, path);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ExportedModelRoundTripsWithItsMetadata()
    {
        using var dir = new TempFolder();
        var (learner, path) = TrainedTiny(dir);
        using var loaded = ModelFile.Load(path);
        Assert.Equal(new[] { "green", "red" }, loaded.Info.Classes);
        Assert.Equal("resnet18", loaded.Info.Spec.Architecture);
        Assert.Equal(32, loaded.Info.Preprocessing.Size);
        Assert.Equal(1, loaded.Info.Training.Epochs);
        Assert.Equal(42, loaded.Info.Training.Seed);
        Assert.Equal(64, loaded.Info.Training.DataFingerprint.Length);
        Assert.Contains("accuracy", loaded.Info.Training.Metrics.Keys);
        foreach (var (key, value) in learner.Model.state_dict())
            Assert.True(value.equal(loaded.Model.state_dict()[key]).all().item<bool>(), key);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void PredictorGivesTheLearnersValidationProbabilities()
    {
        using var dir = new TempFolder();
        var (learner, path) = TrainedTiny(dir);
        using var fromLearner = learner.GetPredictions();
        // The torch engine computes exactly what the learner does; the ONNX engine's parity is its own test.
        using var predictor = Predictor.Load(path, new PredictorOptions { Engine = InferenceEngine.Torch });
        var prepared = fromLearner.Items.Select(i => predictor.Prepare(i.Path)).ToList();
        using var probabilities = predictor.Probabilities(prepared);
        Assert.True(probabilities.allclose(fromLearner.Probabilities, rtol: 1e-5, atol: 1e-6),
            $"max difference {(probabilities - fromLearner.Probabilities).abs().max().item<float>()}");
        var one = predictor.Predict(fromLearner.Items[0].Path);
        Assert.Equal(fromLearner.Probabilities[0].argmax().item<long>(), one.Index);
        Assert.Equal(1f, one.Probabilities.Sum(p => p.Probability), 4);
        Assert.Equal(one.Label, one.Top(1)[0].Label);
    }

    [Trait("Category", Category.Process)]
    [Trait("Category", Category.Slow)]
    [Fact]
    public void AFreshProcessPredictsTheSameProbabilities()
    {
        using var dir = new TempFolder();
        var (learner, path) = TrainedTiny(dir);
        using var fromLearner = learner.GetPredictions();
        // The real CLI in its own process: nothing shared with this one but the model file.
        string cli = Path.Combine(AppContext.BaseDirectory, "lumen.dll");
        string csv = dir.File("predictions.csv");
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { ArgumentList = { cli, "predict", path, dir.Path, "--out", csv, "--top", "2", "--precision", "float32" }, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(psi)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, output);
        var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToDictionary(c => c[0], c => c);
        float[] probs = fromLearner.Probabilities.data<float>().ToArray();
        for (int i = 0; i < fromLearner.Count; i++)
        {
            var row = rows[fromLearner.Items[i].Path];
            int best = probs[i * 2] >= probs[i * 2 + 1] ? 0 : 1;
            Assert.Equal(learner.Data.Vocab.Classes[best], row[1]);
            Assert.Equal(probs[i * 2 + best], float.Parse(row[2], System.Globalization.CultureInfo.InvariantCulture), 4);
        }
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void TtaWithZeroPassesIsThePlainPredictionAndBlendsOtherwise()
    {
        using var dir = new TempFolder();
        var (learner, path) = TrainedTiny(dir);
        using var predictor = Predictor.Load(path, new PredictorOptions { Engine = InferenceEngine.Torch });
        var prepared = learner.Data.Valid.Items.Take(3).Select(i => predictor.Prepare(i.Path)).ToList();
        using var plain = predictor.Probabilities(prepared);
        using var zero = predictor.Probabilities(prepared, tta: 0);
        Assert.True(plain.equal(zero).all().item<bool>());
        using var tta = predictor.Probabilities(prepared, tta: 4);
        Assert.True(tta.sum(1).allclose(ones(3), atol: 1e-4));
        // The blend: (1 − 0.25)·mean(augmented) + 0.25·plain, recomputed by hand.
        var augmenter = new Lumen.Augment.BatchAugmenter(AugmentOptions.Default);
        var raw = Lumen.Imaging.ImageTensor.Stack(prepared, CPU);
        var sum = zeros_like(plain);
        for (int i = 0; i < 4; i++)
        {
            var x = augmenter.Apply(raw, new Random(Lumen.Seeds.Derive(predictor.Info.Training.Seed, Lumen.SeedStream.Tta, i)));
            using var noGrad = no_grad();
            sum += predictor.Model.forward(predictor.Info.Preprocessing.Normalization.Normalize(x)).softmax(1);
        }
        var expected = sum / 4 * 0.75 + plain * 0.25;
        Assert.True(tta.allclose(expected, atol: 1e-5));
    }

    [Trait("Category", Category.Slow)]
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OnnxAndTorchEnginesGiveTheSameProbabilities(bool multiLabel)
    {
        using var dir = new TempFolder();
        var (learner, path) = TrainedTiny(dir, multiLabel);
        using var onnx = Predictor.Load(path, new PredictorOptions { Engine = InferenceEngine.Onnx, Precision = InferencePrecision.Float32, Threads = 1 });
        using var torchEngine = Predictor.Load(path, new PredictorOptions { Engine = InferenceEngine.Torch });
        using var auto = Predictor.Load(path);
        Assert.Equal((InferenceEngine.Onnx, InferencePrecision.Float32), (onnx.Engine, onnx.Precision));
        Assert.Equal((InferenceEngine.Torch, InferencePrecision.Float32), (torchEngine.Engine, torchEngine.Precision));
        // resnet18 on the CPU, in float32 (int8 only when asked: it costs accuracy, see InferencePrecision.Auto).
        Assert.Equal((InferenceEngine.Onnx, InferencePrecision.Float32), (auto.Engine, auto.Precision));
        var prepared = learner.Data.Train.Items.Concat(learner.Data.Valid.Items).Select(i => onnx.Prepare(i.Path)).ToList();
        foreach (int tta in new[] { 0, 2 })
        {
            using var a = onnx.Probabilities(prepared, tta);
            using var b = torchEngine.Probabilities(prepared, tta);
            Assert.Equal(b.shape, a.shape);
            float worst = (a - b).abs().max().item<float>();
            Assert.True(worst < 1e-4, $"tta {tta}: largest difference {worst}");
        }
        // Batches of one and of many give the same answer (dynamic batch dimension).
        Assert.Equal(onnx.PredictBatch(prepared)[3].Probability, onnx.PredictBatch(new[] { prepared[3] })[0].Probability, 5);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ReducedPrecisionEnginesStayCloseToFloat32()
    {
        using var dir = new TempFolder();
        var (learner, path) = TrainedTiny(dir);
        using (var loaded = ModelFile.Load(path))
        {
            // Export measured the int8 ranges on the training images: one range per convolution (20 in resnet18).
            Assert.NotNull(loaded.Calibration);
            Assert.Equal(20, loaded.Calibration!.Convs.Count);
            Assert.Equal(learner.Data.Train.Items.Count, loaded.Calibration.Images);
            Assert.All(loaded.Calibration.Convs, r => Assert.True(r.OutputMin < r.OutputMax));
        }
        using var float32 = Predictor.Load(path, new PredictorOptions { Engine = InferenceEngine.Onnx, Precision = InferencePrecision.Float32 });
        using var int8 = Predictor.Load(path, new PredictorOptions { Precision = InferencePrecision.Int8 });
        using var bf16 = Predictor.Load(path, new PredictorOptions { Precision = InferencePrecision.BFloat16 });
        Assert.Equal((InferenceEngine.Onnx, InferenceEngine.Torch), (int8.Engine, bf16.Engine));
        var prepared = learner.Data.Train.Items.Concat(learner.Data.Valid.Items).Select(i => float32.Prepare(i.Path)).ToList();
        using var reference = float32.Probabilities(prepared);
        foreach (var (name, predictor, tolerance) in new[] { ("int8", int8, 0.05f), ("bfloat16", bf16, 0.03f) })
        {
            using var p = predictor.Probabilities(prepared);
            float worst = (p - reference).abs().max().item<float>();
            Assert.True(worst < tolerance, $"{name}: largest probability difference {worst}");
            Assert.True(worst > 0, $"{name}: identical to float32, so it did not run in reduced precision");
        }
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void Int8NeedsACalibrationAndAddCalibrationStoresOne()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 3, size: 40);
        string path = TinyModel.Save(dir.File("m.lumen"));  // written without a calibration
        var error = Assert.Throws<OptionException>(() => Predictor.Load(path, new PredictorOptions { Precision = InferencePrecision.Int8 }));
        Assert.Equal(OptionName.Precision, error.Option);
        Assert.Equal(OptionName.Precision, Assert.Throws<OptionException>(() => Predictor.Load(path, new PredictorOptions { Engine = InferenceEngine.Torch, Precision = InferencePrecision.Int8 })).Option);
        byte[] weightsBefore = ReadEntry(path, "weights.safetensors");
        var info = ModelFile.ReadInfo(path);
        var images = Directory.GetFiles(dir.Path, "*.png", SearchOption.AllDirectories).Select(info.Preprocessing.Prepare).ToList();
        var calibration = ModelFile.AddCalibration(path, images, "test images");
        Assert.Equal(6, calibration.Images);
        Assert.Equal(weightsBefore, ReadEntry(path, "weights.safetensors"));
        using var int8 = Predictor.Load(path, new PredictorOptions { Precision = InferencePrecision.Int8 });
        Assert.Equal(1f, int8.Predict(images.Count > 0 ? Directory.GetFiles(dir.Path, "*.png", SearchOption.AllDirectories)[0] : "").Probabilities.Sum(c => c.Probability), 3);
    }

    [Trait("Category", Category.Process)]
    [Trait("Category", Category.Slow)]
    [Fact]
    public void CalibrateCommandAddsTheCalibrationThatInt8PredictionUses()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 4, size: 40, prefix: "images");
        string path = TinyModel.Save(dir.File("m.lumen"));
        var (code, output) = LumenProcess.Run("calibrate", path, dir.File("images"), "--images", "5");
        Assert.True(code == 0, output);
        Assert.Contains("measured on 5 images", output);
        using (var loaded = ModelFile.Load(path)) Assert.Equal(5, loaded.Calibration!.Images);
        (code, output) = LumenProcess.Run("predict", path, dir.File("images"), "--precision", "int8");
        Assert.True(code == 0, output);
        Assert.Contains("onnx int8", output);
        (code, output) = LumenProcess.Run("calibrate", path, dir.File("nothing-here"));
        Assert.Equal(1, code);
        Assert.Contains("is not a folder", output);
    }

    private static byte[] ReadEntry(string zipPath, string name)
    {
        using var zip = ZipFile.OpenRead(zipPath);
        using var stream = zip.GetEntry(name)!.Open();
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    [Fact]
    public void AutoFallsBackToTorchWhereOnnxCannotRunAndOnnxSaysWhy()
    {
        using var dir = new TempFolder();
        TorchSharp.torch.manual_seed(3);
        using (var model = Lumen.Models.VisionModel.Create("mobilenet_v2", 2, weights: "none"))
        {
            model.eval();
            var training = new TrainingInfo(new Dictionary<string, double>(), 0, 42, DateTime.UtcNow, "test", "", 0, 0, "cross_entropy", AugmentOptions.Default);
            ModelFile.Save(model, new[] { "a", "b" }, Lumen.Tasks.ImageTask.SingleLabel, 0.5, new Preprocessing(32, ResizeMethod.Crop, Lumen.Imaging.PadMode.Reflection, model.Normalization), training, dir.File("m.lumen"));
        }
        using var auto = Predictor.Load(dir.File("m.lumen"));
        Assert.Equal(InferenceEngine.Torch, auto.Engine);
        var error = Assert.Throws<OptionException>(() => Predictor.Load(dir.File("m.lumen"), new PredictorOptions { Engine = InferenceEngine.Onnx }));
        Assert.Equal(OptionName.Engine, error.Option);
        Assert.Contains("mobilenet_v2", error.Message);
        Assert.Equal(OptionName.Threads, Assert.Throws<OptionException>(() => Predictor.Load(dir.File("m.lumen"), new PredictorOptions { Threads = -1 })).Option);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void MultiLabelModelsPredictLabelSets()
    {
        using var dir = new TempFolder();
        var (_, path) = TrainedTiny(dir, multiLabel: true);
        using var predictor = Predictor.Load(path);
        Assert.Same(Lumen.Tasks.ImageTask.MultiLabel, predictor.Info.Task);
        Assert.Equal(new[] { "green", "red", "shiny" }, predictor.Classes);
        var p = predictor.Predict(dir.File("red", "img000.png"));
        Assert.All(p.Labels, l => Assert.True(p.Probabilities.Single(c => c.Label == l).Probability > 0.5));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void CorruptTruncatedAndForeignFilesAreRejectedClearly()
    {
        using var dir = new TempFolder();
        var (_, path) = TrainedTiny(dir);
        byte[] good = File.ReadAllBytes(path);

        string truncated = dir.Write("truncated.lumen", good[..(good.Length / 2)]);
        Assert.Contains("not a Lumen model file", Assert.Throws<LumenException>(() => ModelFile.Load(truncated)).Message);

        string foreign = dir.Write("photo.lumen", File.ReadAllBytes(dir.File("red", "img000.png")));
        Assert.Contains("not a Lumen model file", Assert.Throws<LumenException>(() => ModelFile.Load(foreign)).Message);

        string otherZip = dir.File("other.lumen");
        using (var zip = ZipFile.Open(otherZip, ZipArchiveMode.Create)) zip.CreateEntry("readme.txt");
        Assert.Contains("no lumen.json", Assert.Throws<LumenException>(() => ModelFile.Load(otherZip)).Message);

        // Flip bytes inside the stored weights: the checksum catches it.
        string corrupt = dir.File("corrupt.lumen");
        File.Copy(path, corrupt);
        using (var zip = ZipFile.Open(corrupt, ZipArchiveMode.Update))
        {
            var entry = zip.GetEntry("weights.safetensors")!;
            byte[] weights;
            using (var s = entry.Open()) { var m = new MemoryStream(); s.CopyTo(m); weights = m.ToArray(); }
            weights[^100] ^= 0xFF;
            entry.Delete();
            using var w = zip.CreateEntry("weights.safetensors").Open();
            w.Write(weights);
        }
        Assert.Contains("corrupt", Assert.Throws<LumenException>(() => ModelFile.Load(corrupt)).Message);

        Assert.Contains("does not exist", Assert.Throws<LumenException>(() => ModelFile.Load(dir.File("missing.lumen"))).Message);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void ExportIsAtomicAndNeverLeavesTemporaryFiles()
    {
        using var dir = new TempFolder();
        var (learner, path) = TrainedTiny(dir);
        long before = new FileInfo(path).Length;
        learner.Export(path); // overwrite in place
        Assert.InRange(new FileInfo(path).Length, before - 1000, before + 1000);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void EvaluationMatchesTheConfusionOfItsPredictions()
    {
        using var dir = new TempFolder();
        var (_, path) = TrainedTiny(dir);
        dir.Write("red/broken.png", "nope"u8.ToArray());
        using var predictor = Predictor.Load(path);
        var items = Evaluation.LabelledItems(predictor, dir.Path);
        var (predictions, skipped) = Evaluation.Predict(predictor, items);
        using (predictions)
        {
            Assert.Single(skipped);
            Assert.Equal(16, predictions.Count);
            var metrics = Evaluation.Metrics(predictions, 2);
            var confusion = Metrics.Confusion(predictions.Logits.argmax(1), predictions.Targets, 2);
            Assert.Equal((confusion[0, 0] + confusion[1, 1]) / 16.0, metrics["accuracy"], 9);
        }
        dir.AddClasses(new[] { "blue" }, 1);
        Assert.Contains("blue", Assert.Throws<DataException>(() => Evaluation.LabelledItems(predictor, dir.Path)).Message);
    }
}
