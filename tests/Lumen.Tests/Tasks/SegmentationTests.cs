using Lumen.Augment;
using Lumen.Data;
using Lumen.Data.Masks;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Interpret;
using Lumen.Models;
using Lumen.Tasks;
using Lumen.Tests.Support;
using Lumen.Training;
using Lumen.Workflows;
using SkiaSharp;
using static TorchSharp.torch;

namespace Lumen.Tests;

public class SegmentationTests
{
    // ---- Readers -------------------------------------------------------------------------------

    [Fact]
    public void TheImagesAndMasksLayoutIsRecognisedAndJpegMasksAreThresholded()
    {
        using var dir = new TempFolder();
        SegmentationImages.Write(dir, 6, jpegMasks: true);
        var data = new DataSource(dir.Path).Load(new DataOptions { Item = new ItemTransform(32), ValidPct = 0.34 });
        Assert.Same(ImageTask.Segmentation, data.Task);
        Assert.Equal(new[] { "background", "foreground" }, data.Vocab.Classes);
        Assert.Equal(6, data.Train.Items.Count + data.Valid.Items.Count);
        Assert.All(data.Train.Items, i => Assert.EndsWith(Path.GetFileNameWithoutExtension(i.Path) + ".jpg", i.Mask!.Path));
        // The JPEG mask of the rectangle reads back as the rectangle, up to the ringing at its edges.
        var (_, truth) = SegmentationImages.Rectangle(48, 36, 1000);
        ClassMask read = new MaskFile(dir.File("masks", "img000.jpg"), MaskEncoding.Binary()).Read();
        int wrong = Enumerable.Range(0, truth.Classes.Length).Count(p => truth.Classes[p] != read.Classes[p]);
        Assert.True(wrong <= 4, $"{wrong} pixels differ from the drawn rectangle");
        Assert.NotNull(data.Audit.ClassPixelShares);
        Assert.InRange(data.Audit.ClassPixelShares![1], 0.03, 0.3);
    }

    [Fact]
    public void ClassIndexMasksUseTheCodesFileAndColourMasksTheColourMap()
    {
        var grey = RgbImage.Filled(4, 2, 0, 0, 0);
        grey.Set(1, 0, 2, 2, 2);
        grey.Set(3, 1, 1, 1, 1);
        using var dir = new TempFolder();
        string codes = dir.Write("codes.txt", "void\nroad\n\ncar\n"u8.ToArray());
        var indices = MaskEncoding.FromCodesFile(codes);
        Assert.Equal(new[] { "void", "road", "car" }, indices.Classes);
        Assert.Equal(new byte[] { 0, 2, 0, 0, 0, 0, 0, 1 }, indices.Classify(grey, "m.png").Classes);
        grey.Set(0, 0, 3, 3, 3);
        var unknown = Assert.Throws<DataException>(() => indices.Classify(grey, "m.png"));
        Assert.Contains("m.png: pixel (0, 0) holds class 3", unknown.Message);

        string map = dir.Write("class_dict.csv", "name,r,g,b\nbackground,0,0,0\npolyp,255,255,255\nblood,200,0,0\n"u8.ToArray());
        var colours = MaskEncoding.FromColourMapFile(map);
        var painted = RgbImage.Filled(3, 1, 0, 0, 0);
        painted.Set(1, 0, 250, 252, 247);  // JPEG-like noise around white
        painted.Set(2, 0, 190, 10, 5);
        Assert.Equal(new byte[] { 0, 1, 2 }, colours.Classify(painted, "c.png").Classes);
        painted.Set(0, 0, 0, 0, 255);
        Assert.Contains("c.png: pixel (0, 0) has the colour (0,0,255)", Assert.Throws<DataException>(() => colours.Classify(painted, "c.png")).Message);
    }

    [Fact]
    public void MissingExtraAndMisSizedMasksAreAllNamedAndNothingLoads()
    {
        using var dir = new TempFolder();
        SegmentationImages.Write(dir, 4);
        File.Delete(dir.File("masks", "img001.png"));
        dir.Write("masks/stray.png", TestImages.Encode(RgbImage.Filled(48, 36, 0, 0, 0), SKEncodedImageFormat.Png));
        dir.Write("masks/img002.png", TestImages.Encode(RgbImage.Filled(20, 20, 0, 0, 0), SKEncodedImageFormat.Png));
        var e = Assert.Throws<DataException>(() => new DataSource(dir.Path).Load(new DataOptions { Item = new ItemTransform(32) }));
        Assert.Contains("img001.png: no mask named img001.*", e.Message);
        Assert.Contains("stray.png: a mask without an image", e.Message);
        Assert.Contains("nothing was loaded", e.Message);
        File.Delete(dir.File("masks", "stray.png"));
        dir.Write("masks/img001.png", TestImages.Encode(RgbImage.Filled(48, 36, 0, 0, 0), SKEncodedImageFormat.Png));
        var sized = Assert.Throws<DataException>(() => new DataSource(dir.Path).Load(new DataOptions { Item = new ItemTransform(32) }));
        Assert.Contains("img002.png: the mask is 20x20 but its image", sized.Message);
    }

    // ---- Geometry ------------------------------------------------------------------------------

    /// <summary>Of the pixels, the fraction where "the mask says rectangle" agrees with "the image is bright".</summary>
    private static double Agreement(Tensor images, Tensor masks)
    {
        using var scope = NewDisposeScope();
        var bright = images.select(1, 0).gt(0.5);
        var inside = masks.eq(1);
        return bright.eq(inside).to(ScalarType.Float64).mean().item<double>();
    }

    [Theory]
    [InlineData(ResizeMethod.Crop, PadMode.Reflection)]
    [InlineData(ResizeMethod.Pad, PadMode.Zeros)]
    [InlineData(ResizeMethod.Pad, PadMode.Reflection)]
    [InlineData(ResizeMethod.Squish, PadMode.Border)]
    public void MasksFollowTheirImagesThroughTheItemTransformAndTheBatchAugmentation(ResizeMethod method, PadMode padMode)
    {
        var transform = new ItemTransform(40, method, padMode, minScale: method == ResizeMethod.Crop ? 0.35 : null);
        var augmenter = new BatchAugmenter(AugmentOptions.FromPreset("endoscopy") with { PadMode = padMode, MaxRotate = 180, MaxLighting = 0 });
        var images = new List<RgbImage>();
        var masks = new List<ClassMask>();
        for (int i = 0; i < 8; i++)
        {
            var (image, mask) = SegmentationImages.Rectangle(60, 44, i);
            // The mask arrives at another size of the same frame (a JPEG decoded at a reduced scale).
            var (img, m) = transform.Apply(image, mask.Resize(120, 88), new Random(i));
            images.Add(img);
            masks.Add(m);
        }
        using var x = ImageTensor.Stack(images, CPU);
        using var y = MaskTensor.Stack(masks, CPU);
        Assert.True(Agreement(x, y) > 0.97, $"after the item transform only {Agreement(x, y):P1} of pixels agree");
        var (moved, movedMasks) = augmenter.Apply(x, y, new Random(3));
        using (moved)
        using (movedMasks)
        {
            Assert.Equal(ScalarType.Int64, movedMasks!.dtype);
            Assert.True(movedMasks.ne(y).any().item<bool>(), "the augmentation moved nothing");
            double agreement = Agreement(moved, movedMasks);
            Assert.True(agreement > 0.95, $"after augmentation only {agreement:P1} of pixels agree");
            // Nearest-neighbour: masks hold class indices only, never blends.
            Assert.True(movedMasks.eq(0).logical_or(movedMasks.eq(1)).all().item<bool>());
            // The same seed moves the images identically with or without masks.
            using var alone = augmenter.Apply(x, new Random(3));
            Assert.True(alone.allclose(moved));
        }
    }

    // ---- Metrics and loss ---------------------------------------------------------------------

    /// <summary>Logits whose argmax is <paramref name="predicted"/> (N×H×W) over <paramref name="classes"/> classes.</summary>
    private static Tensor LogitsFor(long[,,] predicted, int classes)
    {
        using var p = tensor(predicted.Cast<long>().ToArray(), new long[] { predicted.GetLength(0), predicted.GetLength(1), predicted.GetLength(2) });
        return nn.functional.one_hot(p, classes).permute(0, 3, 1, 2).to(ScalarType.Float32).mul(5.0f);
    }

    [Fact]
    public void DiceJaccardAndForegroundAccuracyMatchHandWorkedCases()
    {
        // Image 0: truth 3 pixels, prediction 2 of them and 1 more: |P∩T| 2, |P| 3, |T| 3.
        // Image 1: truth 1 pixel, prediction none: |P∩T| 0, |P| 0, |T| 1.
        // Image 2: neither has foreground: a perfect empty answer (Dice 1 for that image).
        long[,,] truth = { { { 1, 1 }, { 1, 0 } }, { { 0, 0 }, { 0, 1 } }, { { 0, 0 }, { 0, 0 } } };
        long[,,] predicted = { { { 1, 1 }, { 0, 1 } }, { { 0, 0 }, { 0, 0 } }, { { 0, 0 }, { 0, 0 } } };
        using var logits = LogitsFor(predicted, 2);
        using var targets = tensor(truth.Cast<long>().ToArray(), new long[] { 3, 2, 2 });
        // Over all pixels: |P∩T| 2, |P| 3, |T| 4: Dice 4/7, Jaccard 2/5.
        Assert.Equal(4.0 / 7, Metrics.Dice.Compute(logits, targets), 6);
        Assert.Equal(2.0 / 5, Metrics.Jaccard.Compute(logits, targets), 6);
        // Per image: 4/6, 0, 1.
        Assert.Equal((4.0 / 6 + 0 + 1) / 3, Metrics.DicePerImage.Compute(logits, targets), 6);
        // Foreground pixels 4, of which 2 predicted right.
        Assert.Equal(0.5, Metrics.ForegroundAccuracy.Compute(logits, targets), 6);
    }

    [Fact]
    public void MultiClassDiceAveragesTheForegroundClassesAsAnIndependentCountDoes()
    {
        var random = new Random(5);
        var truth = new long[4, 6, 5];
        var predicted = new long[4, 6, 5];
        for (int i = 0; i < 4; i++)
            for (int y = 0; y < 6; y++)
                for (int x = 0; x < 5; x++) (truth[i, y, x], predicted[i, y, x]) = (random.Next(3), random.Next(3));
        using var logits = LogitsFor(predicted, 3);
        using var targets = tensor(truth.Cast<long>().ToArray(), new long[] { 4, 6, 5 });
        // Independent count: plain loops over the arrays.
        double DiceOf(int c, int? image)
        {
            long both = 0, p = 0, t = 0;
            for (int i = 0; i < 4; i++)
                if (image is null || image == i)
                    for (int y = 0; y < 6; y++)
                        for (int x = 0; x < 5; x++)
                        {
                            bool pc = predicted[i, y, x] == c, tc = truth[i, y, x] == c;
                            both += pc && tc ? 1 : 0;
                            p += pc ? 1 : 0;
                            t += tc ? 1 : 0;
                        }
            return p + t == 0 ? 1 : 2.0 * both / (p + t);
        }
        double overall = (DiceOf(1, null) + DiceOf(2, null)) / 2;
        double perImage = new[] { 1, 2 }.Average(c => Enumerable.Range(0, 4).Average(i => DiceOf(c, i)));
        Assert.Equal(overall, Metrics.Dice.Compute(logits, targets), 6);
        Assert.Equal(perImage, Metrics.DicePerImage.Compute(logits, targets), 6);
    }

    [Theory]
    [InlineData("binary")]
    [InlineData("four_classes")]
    public void MetricsAndLossMatchAnIndependentNumpyComputation(string name)
    {
        // Fixtures/segmentation-metrics-reference.json comes from numpy alone (segmentation_metrics_reference.py beside it).
        var reference = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "segmentation-metrics-reference.json")))![name]!;
        long[] shape = reference["shape"]!.AsArray().Select(v => (long)v!).ToArray();
        using var logits = tensor(reference["logits"]!.AsArray().Select(v => (float)v!).ToArray(), shape);
        using var targets = tensor(reference["targets"]!.AsArray().Select(v => (long)v!).ToArray(), new[] { shape[0], shape[2], shape[3] });
        foreach (var metric in new[] { Metrics.Dice, Metrics.Jaccard, Metrics.DicePerImage, Metrics.ForegroundAccuracy })
            Assert.Equal((double)reference[metric.Name]!, metric.Compute(logits, targets), 9);
        using var losses = Loss.PixelCrossEntropy().PerItem(logits, targets);
        double[] expected = reference["cross_entropy_per_image"]!.AsArray().Select(v => (double)v!).ToArray();
        float[] actual = losses.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 4);
    }

    [Fact]
    public void PixelCrossEntropyIsTheMeanOverPixelsAndTheDiceTermAddsOneMinusSoftDice()
    {
        using var logits = tensor(new float[] { 2, -1, 0, 3, /* class 1: */ -2, 1, 0, -3 }, new long[] { 1, 2, 2, 2 });
        using var targets = tensor(new long[] { 0, 1, 1, 0 }, new long[] { 1, 2, 2 });
        // Per pixel: p(target) = softmax over the two classes at that pixel.
        double[] z0 = { 2, -1, 0, 3 }, z1 = { -2, 1, 0, -3 };
        long[] t = { 0, 1, 1, 0 };
        double ce = Enumerable.Range(0, 4).Average(i => -Math.Log(Math.Exp(t[i] == 0 ? z0[i] : z1[i]) / (Math.Exp(z0[i]) + Math.Exp(z1[i]))));
        using var plain = Loss.PixelCrossEntropy().PerItem(logits, targets);
        Assert.Equal(ce, plain.item<float>(), 4);
        double[] p1 = Enumerable.Range(0, 4).Select(i => Math.Exp(z1[i]) / (Math.Exp(z0[i]) + Math.Exp(z1[i]))).ToArray();
        double soft = (2 * (p1[1] + p1[2]) + 1) / (p1.Sum() + 2 + 1);
        using var withDice = Loss.PixelCrossEntropy(0.5).PerItem(logits, targets);
        Assert.Equal(ce + 0.5 * (1 - soft), withDice.item<float>(), 4);
    }

    // ---- Model ---------------------------------------------------------------------------------

    [Theory]
    [InlineData(64, 64)]
    [InlineData(72, 100)]
    public void TheUnetAnswersEveryPixelOfAnyInputSize(int height, int width)
    {
        using var model = VisionModel.Create("resnet18", 3, weights: "none", unet: UnetOptions.Default);
        model.eval();
        using var noGrad = no_grad();
        using var input = randn(2, 3, height, width);
        using var output = model.forward(input);
        Assert.Equal(new long[] { 2, 3, height, width }, output.shape);
        // Skips at every size change of the ResNet body: the stem's ReLU, layer1, layer2, layer3.
        Assert.Equal(new[] { 2, 4, 5, 6 }, model.Decoder!.SkipLayers);
        // The body's groups and the decoder: three layer groups, as a classifier has.
        Assert.Equal(3, model.LayerGroups().Count);
    }

    [Fact]
    public void IcnrInitialisedPixelShuffleStartsAsNearestNeighbourUpsampling()
    {
        using var shuffle = new PixelShuffleIcnr(4, 3);
        shuffle.eval();
        using var noGrad = no_grad();
        using var input = randn(1, 4, 5, 6);
        using var output = shuffle.forward(input);
        Assert.Equal(new long[] { 1, 3, 10, 12 }, output.shape);
        // Each 2×2 block of the output holds one value.
        using var block = output.unfold(2, 2, 2).unfold(3, 2, 2);  // 1×3×5×6×2×2
        using var spread = block.amax(new long[] { 4, 5 }) - block.amin(new long[] { 4, 5 });
        Assert.True(spread.max().item<float>() < 1e-5f);
    }

    // ---- End to end ----------------------------------------------------------------------------

    /// <summary>One unfrozen epoch at 32 px from random weights on the generated images in <c>data/</c>, into <paramref name="output"/>.</summary>
    private static TrainRequest SmallRecipe(TempFolder dir, string output) => new()
    {
        Data = new DataSource(dir.File("data")),
        OutputFolder = dir.File(output),
        DataOptions = new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4, Workers = 2 } },
        Weights = "none", Epochs = 1, FreezeEpochs = 0, Lr = 1e-3,
    };

    [Fact]
    [Trait("Category", Category.Slow)]
    public void TrainWithAReportWritesTheSegmentationReport()
    {
        using var dir = new TempFolder();
        SegmentationImages.Write(dir, 10, width: 40, height: 32, prefix: "data/");
        var recipe = SmallRecipe(dir, "run");
        var result = TrainWorkflow.Run(recipe with { DataOptions = recipe.DataOptions with { ValidPct = 0.3 }, Report = true });
        Assert.Equal(dir.File("run", "report.html"), result.ReportPath);
        Assert.Contains("Lowest Dice", File.ReadAllText(result.ReportPath!));
        Assert.True(File.Exists(dir.File("run", "worst_images.png")));
        Assert.True(File.Exists(dir.File("run", "model.lumen")));
    }

    [Fact]
    [Trait("Category", Category.Slow)]
    public void CrossValidationScoresEveryFoldsMasksAtTheImagesOwnSize()
    {
        using var dir = new TempFolder();
        SegmentationImages.Write(dir, 12, width: 44, height: 36, prefix: "data/");
        var cv = CrossValidation.Run(new CrossValidationRequest
        {
            Recipe = SmallRecipe(dir, "cv"),
            Folds = 3,
        });
        Assert.Same(ImageTask.Segmentation, cv.Task);
        Assert.Equal(3, cv.Folds.Count);
        Assert.Equal(new[] { "dice_per_image", "dice", "jaccard", "foreground_acc" }, cv.MetricNames);
        Assert.Equal(12, cv.Folds.Sum(f => f.ValidImages));
        Assert.Null(cv.Confusion());
        Assert.Equal(12, cv.OutOfFold.Count);
        Assert.All(cv.OutOfFold, p => Assert.Equal(1.0, p.Probabilities.Sum(), 4));
        Assert.InRange(cv.Summary.Mean, 0, 1);
        Assert.True(File.Exists(dir.File("cv", "cv.json")));
    }

    [Fact]
    [Trait("Category", Category.Slow)]
    public void ASegmentationTrainsExportsReloadsAndPredictsMasksAtEachImagesOwnSize()
    {
        using var dir = new TempFolder();
        SegmentationImages.Write(dir, 24, width: 56, height: 40);
        var data = new DataSource(dir.Path).Load(new DataOptions { Item = new ItemTransform(32), ValidPct = 0.25, Loader = new LoaderOptions { BatchSize = 6 } });
        using var learner = VisionLearner.Create(data, weights: "none");
        learner.FineTune(2, 3e-3, freezeEpochs: 1);
        Assert.Equal(3, learner.History.Count);
        Assert.Contains("dice_per_image", learner.History[^1].Metrics.Keys);
        string file = dir.File("model.lumen");
        learner.Export(file);

        using var predictor = Predictor.Load(file);
        Assert.Same(ImageTask.Segmentation, predictor.Info.Task);
        Assert.NotNull(predictor.Info.Spec.Unet);
        var prediction = predictor.PredictMask(data.Valid.Items[0].Path, tta: 1);
        Assert.Equal((56, 40), (prediction.Mask.Width, prediction.Mask.Height));
        Assert.Equal(1.0, prediction.AreaFractions.Sum(), 6);

        // ONNX Runtime (the CPU default) and LibTorch agree on a whole frame of an odd size, where the
        // decoder resizes to its skips and to the input.
        Assert.Equal(InferenceEngine.Onnx, predictor.Engine);
        using var torchEngine = Predictor.Load(file, new PredictorOptions { Engine = InferenceEngine.Torch });
        var (frame, _) = predictor.Transform.WholeFrame(predictor.Transform.Load(data.Valid.Items[0].Path));
        using var onnxFrame = predictor.Probabilities(new[] { frame });
        using var torchFrame = torchEngine.Probabilities(new[] { frame });
        Assert.Equal(new long[] { 1, 2, 32, 45 }, onnxFrame.shape);
        using (var difference = (onnxFrame - torchFrame).abs().max())
            Assert.True(difference.item<float>() < 1e-4f, $"ONNX and LibTorch probabilities differ by {difference.item<float>()}");
        Assert.Equal(torchEngine.PredictMask(data.Valid.Items[0].Path).Mask.Classes, predictor.PredictMask(data.Valid.Items[0].Path).Mask.Classes);

        // The reloaded model gives the learner's probabilities.
        using var fromLearner = Predictor.ForLearner(learner);
        var image = predictor.Prepare(data.Valid.Items[0].Path);
        using var a = fromLearner.Probabilities(new[] { image });
        using var b = predictor.Probabilities(new[] { image });
        Assert.Equal(new long[] { 1, 2, 32, 32 }, b.shape);
        Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-5));

        var result = MaskPredictWorkflow.Run(predictor, new MaskPredictRequest
        {
            Files = data.Valid.Items.Select(i => i.Path).ToList(), SaveMasks = dir.File("out"), Draw = dir.File("drawn"), Output = dir.File("areas.csv"),
        });
        Assert.Equal(data.Valid.Items.Count, result.Predicted.Count);
        foreach (var item in data.Valid.Items)
        {
            string mask = dir.File("out", Path.GetFileNameWithoutExtension(item.Path) + ".png");
            Assert.Equal((56, 40), ImageDecoder.ReadSize(mask));
            var read = new MaskFile(mask, MaskEncoding.Binary()).Read();
            Assert.Equal(read.Classes, predictor.PredictMask(item.Path).Mask.Classes);
            Assert.True(File.Exists(dir.File("drawn", Path.GetFileNameWithoutExtension(item.Path) + ".png")));
        }
        string[] rows = File.ReadAllLines(dir.File("areas.csv"));
        Assert.Equal("file,background_fraction,foreground_fraction", rows[0]);
        Assert.Equal(data.Valid.Items.Count + 1, rows.Length);

        // Interpretation: the same metrics as evaluation, the worst images first, and its files.
        var interp = SegmentationInterpretation.FromModel(predictor, data.Valid.Items);
        var (scored, _) = Evaluation.Segment(predictor, data.Valid.Items);
        Assert.Equal(Evaluation.Metrics(scored.Select(s => s.Overlap).ToList()), interp.Metrics);
        var worst = interp.Worst(3);
        Assert.Equal(worst.Select(w => w.Dice).Order(), worst.Select(w => w.Dice));
        Assert.Equal(scored.Min(s => s.Overlap.ImageDice()), worst[0].Dice, 9);
        var files = interp.Write(dir.File("interpret"), "title", "subtitle", worst: 2);
        Assert.All(files, f => Assert.True(new FileInfo(f).Length > 0, f));
        Assert.Contains("dice_per_image", File.ReadAllText(dir.File("interpret", "metrics.json")));
    }
}
