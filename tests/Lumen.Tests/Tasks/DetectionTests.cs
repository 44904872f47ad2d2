using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Data.Boxes;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Tasks;
using Lumen.Tests.Support;
using Lumen.Training;
using Lumen.Workflows;
using SkiaSharp;
using static TorchSharp.torch;

namespace Lumen.Tests;

public class DetectionTests
{
    // ---- Readers -------------------------------------------------------------------------------

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes 4 images (64×48) with their boxes; returns the boxes by stem.</summary>
    private static Dictionary<string, List<LabelledBox>> WriteImages(TempFolder dir)
    {
        var boxes = new Dictionary<string, List<LabelledBox>>();
        for (int i = 0; i < 4; i++)
        {
            var (image, b) = DetectionImages.Draw(64, 48, 10 + i, objects: 1 + i % 2, twoClasses: true);
            dir.Write($"images/img{i}.png", TestImages.Encode(image, SKEncodedImageFormat.Png));
            boxes[$"img{i}"] = b;
        }
        return boxes;
    }

    private static void Write(TempFolder dir, string relative, string text) => dir.Write(relative, Encoding.UTF8.GetBytes(text));

    [Theory]
    [InlineData("kvasir")]
    [InlineData("coco")]
    [InlineData("csv")]
    [InlineData("voc")]
    [InlineData("yolo")]
    [InlineData("masks")]
    public void EveryBoxFormatGivesTheDrawnBoxes(string format)
    {
        using var dir = new TempFolder();
        var truth = WriteImages(dir);
        string classes = "a\nb\n";
        string path;
        switch (format)
        {
            case "kvasir":
                path = dir.File("boxes.json");
                Write(dir, "boxes.json", "{" + string.Join(",", truth.Select(t => Inv($"\"{t.Key}\": {{\"height\": 48, \"width\": 64, \"bbox\": [")
                    + string.Join(",", t.Value.Select(b => Inv($"{{\"label\": \"{b.Label}\", \"xmin\": {b.XMin}, \"ymin\": {b.YMin}, \"xmax\": {b.XMax}, \"ymax\": {b.YMax}}}"))) + "]}")) + "}");
                break;
            case "coco":
                path = dir.File("instances.json");
                var images = truth.Keys.Select((k, i) => Inv($"{{\"id\": {i + 1}, \"file_name\": \"{k}.png\", \"width\": 64, \"height\": 48}}"));
                var annotations = truth.Keys.SelectMany((k, i) => truth[k].Select(b => Inv($"{{\"image_id\": {i + 1}, \"category_id\": {(b.Label == "a" ? 3 : 7)}, \"bbox\": [{b.XMin}, {b.YMin}, {b.Width}, {b.Height}], \"iscrowd\": 0}}")));
                Write(dir, "instances.json", $"{{\"images\": [{string.Join(",", images)}], \"annotations\": [{string.Join(",", annotations)}], \"categories\": [{{\"id\": 3, \"name\": \"a\"}}, {{\"id\": 7, \"name\": \"b\"}}]}}");
                break;
            case "csv":
                path = dir.File("boxes.csv");
                Write(dir, "boxes.csv", "file,label,xmin,ymin,xmax,ymax\n" + string.Join("\n", truth.SelectMany(t => t.Value.Select(b => Inv($"{t.Key}.png,{b.Label},{b.XMin},{b.YMin},{b.XMax},{b.YMax}")))));
                break;
            case "voc":
                path = dir.File("annotations");
                foreach (var (stem, list) in truth)
                    Write(dir, $"annotations/{stem}.xml", $"<annotation><filename>{stem}.png</filename><size><width>64</width><height>48</height><depth>3</depth></size>"
                        + string.Concat(list.Select(b => Inv($"<object><name>{b.Label}</name><bndbox><xmin>{b.XMin}</xmin><ymin>{b.YMin}</ymin><xmax>{b.XMax}</xmax><ymax>{b.YMax}</ymax></bndbox></object>")))
                        + "</annotation>");
                break;
            case "yolo":
                path = dir.File("labels");
                Write(dir, "labels/classes.txt", classes);
                foreach (var (stem, list) in truth)
                    Write(dir, $"labels/{stem}.txt", string.Join("\n", list.Select(b =>
                        Inv($"{(b.Label == "a" ? 0 : 1)} {(b.XMin + b.XMax) / 2 / 64} {(b.YMin + b.YMax) / 2 / 48} {b.Width / 64} {b.Height / 48}"))));
                break;
            default:
                path = dir.File("masks");
                Write(dir, "codes.txt", "background\n" + classes);
                foreach (var (stem, list) in truth)
                {
                    var mask = RgbImage.Filled(64, 48, 0, 0, 0);
                    foreach (var b in list)
                        for (int y = (int)b.YMin; y < b.YMax; y++)
                            for (int x = (int)b.XMin; x < b.XMax; x++) { byte c = b.Label == "a" ? (byte)1 : (byte)2; mask.Set(x, y, c, c, c); }
                    dir.Write($"masks/{stem}.png", TestImages.Encode(mask, SKEncodedImageFormat.Png));
                }
                break;
        }
        var data = ImageDataLoaders.FromBoxes(dir.File("images"), path, options: new DataOptions { Item = new ItemTransform(32), ValidPct = 0.25 });
        Assert.Same(ImageTask.Detection, data.Task);
        Assert.Equal(new[] { "a", "b" }.Where(c => truth.Values.Any(l => l.Any(b => b.Label == c))), data.Vocab.Classes);
        foreach (var item in data.Train.Items.Concat(data.Valid.Items))
        {
            var expected = truth[Path.GetFileNameWithoutExtension(item.Path)];
            Assert.Equal((64, 48), (item.Boxes!.Width, item.Boxes.Height));
            Assert.Equal(expected.Count, item.Boxes.Count);
            foreach (var (e, a) in expected.OrderBy(b => b.XMin).Zip(item.Boxes.Boxes.OrderBy(b => b.XMin)))
            {
                Assert.Equal(e.Label, a.Label);
                Assert.Equal(e.XMin, a.XMin, 0.01);
                Assert.Equal(e.YMin, a.YMin, 0.01);
                Assert.Equal(e.XMax, a.XMax, 0.01);
                Assert.Equal(e.YMax, a.YMax, 0.01);
            }
            Assert.Equal(expected.Select(b => b.Label).Distinct().Order(), item.Labels);
        }
    }

    [Fact]
    public void ImagesWithoutBoxesAreNegativesAndTheSummaryCountsThem()
    {
        using var dir = new TempFolder();
        var truth = WriteImages(dir);
        // VOC: one file per image, so an image without a file has no objects.
        foreach (var (stem, list) in truth.Where(t => t.Key != "img3"))
            Write(dir, $"voc/{stem}.xml", $"<annotation><filename>{stem}.png</filename>"
                + string.Concat(list.Select(b => Inv($"<object><name>{b.Label}</name><bndbox><xmin>{b.XMin}</xmin><ymin>{b.YMin}</ymin><xmax>{b.XMax}</xmax><ymax>{b.YMax}</ymax></bndbox></object>"))) + "</annotation>");
        var listing = DetectionSource.Scan(dir.File("images"), dir.File("voc"));
        Assert.Equal(4, listing.Items.Count);
        var negative = listing.Items.Single(i => i.Path.EndsWith("img3.png", StringComparison.Ordinal));
        Assert.Empty(negative.Boxes!.Boxes);
        Assert.Empty(negative.Labels);
        Assert.Equal(1, listing.Boxes!.BoxesPerImage[0]);
        Assert.Equal(truth.Where(t => t.Key != "img3").Sum(t => t.Value.Count), listing.Boxes.BoxesPerClass.Sum());
        Assert.Equal(BoxFormat.Voc, listing.Boxes.Format);
        Assert.InRange(listing.Boxes.RelativeSides[2], 0.1, 0.8);

        // CSV: a row with an empty label lists an image without boxes; an image the table leaves out is left out, with a warning.
        Write(dir, "list.csv", "file,label,xmin,ymin,xmax,ymax\nimg0.png,a,1,2,20,30\nimg0.png,a,1,2,20.5,30\nimg1.png,,,,,\nimg2.png,a,5,5,6,30\n");
        listing = DetectionSource.Scan(dir.File("images"), dir.File("list.csv"));
        Assert.Equal(3, listing.Items.Count);
        Assert.Empty(listing.Items.Single(i => i.Path.EndsWith("img1.png", StringComparison.Ordinal)).Boxes!.Boxes);
        Assert.Contains(listing.Warnings!, w => w.Contains("1 of 4 images", StringComparison.Ordinal) && w.Contains("left out", StringComparison.Ordinal));
        Assert.Contains(listing.Warnings!, w => w.Contains("repeat another box", StringComparison.Ordinal) && w.Contains("img0.png", StringComparison.Ordinal));
        Assert.Contains(listing.Warnings!, w => w.Contains("under 2 pixels", StringComparison.Ordinal) && w.Contains("img2.png", StringComparison.Ordinal));
    }

    [Fact]
    public void BadBoxesAndUnknownFilesAreAllNamedAndNothingLoads()
    {
        using var dir = new TempFolder();
        WriteImages(dir);
        Write(dir, "bad.csv", "file,label,xmin,ymin,xmax,ymax\nimg0.png,a,30,5,10,20\nimg1.png,a,-20,5,10,20\nghost.png,a,1,1,5,5\nimg2.png,a,1,1,5,5\n");
        var e = Assert.Throws<DataException>(() => ImageDataLoaders.FromBoxes(dir.File("images"), dir.File("bad.csv")));
        Assert.Contains("ghost.png", e.Message);
        Assert.Contains("nothing was loaded", e.Message);
        // Box problems are checked once every name is known, all together.
        Write(dir, "bad.csv", "file,label,xmin,ymin,xmax,ymax\nimg0.png,a,30,5,10,20\nimg1.png,a,-20,5,10,20\nimg2.png,a,1,1,5,5\nimg3.png,a,1,1,5,60\n");
        e = Assert.Throws<DataException>(() => DetectionSource.Scan(dir.File("images"), dir.File("bad.csv")));
        Assert.Contains("3 problem(s)", e.Message);
        Assert.Contains("img0.png", e.Message);
        Assert.Contains("inverted or empty", e.Message);
        Assert.Contains("img1.png", e.Message);
        Assert.Contains("outside the 64x48 image", e.Message);
        Assert.Contains("line 5", e.Message);

        Write(dir, "nan.csv", "file,label,xmin,ymin,xmax,ymax\nimg0.png,a,one,5,10,20\n");
        e = Assert.Throws<DataException>(() => DetectionSource.Scan(dir.File("images"), dir.File("nan.csv")));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("xmin 'one' is not a number", e.Message);

        Write(dir, "k.json", "{\"img0\": {\"height\": 50, \"width\": 64, \"bbox\": [{\"label\": \"a\", \"xmin\": 1, \"ymin\": 1, \"xmax\": 9, \"ymax\": 9}]}}");
        e = Assert.Throws<DataException>(() => DetectionSource.Scan(dir.File("images"), dir.File("k.json")));
        Assert.Contains("declares 64x50", e.Message);

        Write(dir, "broken.json", "{\"img0\": {\"bbox\": [{\"label\": \"a\", \"xmin\": 1}]}}");
        e = Assert.Throws<DataException>(() => DetectionSource.Scan(dir.File("images"), dir.File("broken.json")));
        Assert.Contains("entry \"img0\", box 1", e.Message);
        Assert.Contains("'ymin' must be a number", e.Message);

        e = Assert.Throws<DataException>(() => DetectionSource.Scan(dir.File("images"), dir.File("missing.json")));
        Assert.Contains("does not exist", e.Message);

        // A masks folder with a file that is not an image: named, nothing loaded.
        dir.Write("masks/img0.png", TestImages.Encode(RgbImage.Filled(64, 48, 0, 0, 0), SKEncodedImageFormat.Png));
        dir.Write("masks/img1.png", "not a png"u8.ToArray());
        e = Assert.Throws<DataException>(() => DetectionSource.Scan(dir.File("images"), dir.File("masks")));
        Assert.Contains("img1.png", e.Message);
        Assert.Contains("nothing was loaded", e.Message);
    }

    // ---- Geometry ------------------------------------------------------------------------------

    /// <summary>The bounding box of the bright (drawn) pixels of image <paramref name="i"/> of an N×3×H×W batch in [0, 1], or null.</summary>
    private static (float X0, float Y0, float X1, float Y1)? BrightBox(Tensor images, int i)
    {
        using var bright = images[i, 0].gt(0.5);
        var rows = bright.any(1).data<bool>().ToArray();
        var cols = bright.any(0).data<bool>().ToArray();
        int y0 = Array.IndexOf(rows, true), y1 = Array.LastIndexOf(rows, true), x0 = Array.IndexOf(cols, true), x1 = Array.LastIndexOf(cols, true);
        return y0 < 0 ? null : (x0, y0, x1 + 1, y1 + 1);
    }

    [Theory]
    [InlineData(ResizeMethod.Crop)]
    [InlineData(ResizeMethod.Pad)]
    [InlineData(ResizeMethod.Squish)]
    public void BoxesFollowTheirImagesThroughTheItemTransformAndTheBatchAugmentation(ResizeMethod method)
    {
        var transform = new ItemTransform(48, method, PadMode.Reflection, minScale: method == ResizeMethod.Crop ? 0.5 : null);
        var augmenter = new BatchAugmenter(AugmentOptions.FromPreset("endoscopy") with { MaxLighting = 0, MaxWarp = 0.2 });
        var images = new List<RgbImage>();
        var boxes = new List<BoxList>();
        for (int i = 0; i < 12; i++)
        {
            var (image, drawn) = DetectionImages.Draw(80, 60, i);
            // The boxes arrive in the file's frame, twice the decoded size (a JPEG decoded at a reduced scale).
            var inFile = new BoxList(160, 120, drawn.Select(b => b with { XMin = b.XMin * 2, YMin = b.YMin * 2, XMax = b.XMax * 2, YMax = b.YMax * 2 }).ToList());
            var (img, moved) = transform.Apply(image, inFile, new Random(i));
            Assert.Equal((48, 48), (moved.Width, moved.Height));
            images.Add(img);
            boxes.Add(moved);
        }
        using var x = ImageTensor.Stack(images, CPU);
        int compared = 0;
        for (int i = 0; i < 12; i++) compared += Agrees(x, i, boxes[i], 1.5f);
        Assert.True(compared >= 8, $"only {compared} of 12 boxes survived the item transform");

        var (augmented, movedBoxes) = augmenter.Apply(x, boxes, new Random(5));
        using (augmented)
        {
            Assert.False(augmented.allclose(x), "the augmentation moved nothing");
            compared = 0;
            for (int i = 0; i < 12; i++) compared += Agrees(augmented, i, movedBoxes[i], 2.5f);
            Assert.True(compared >= 6, $"only {compared} of 12 boxes survived the augmentation");
            // The same seed moves the images as it does without boxes, except that outside the frame is black.
            using var alone = new BatchAugmenter(augmenter.Options with { PadMode = PadMode.Zeros }).Apply(x, new Random(5));
            Assert.True(alone.allclose(augmented));
        }
    }

    /// <summary>1 when the box bounds the bright pixels within <paramref name="tolerance"/> pixels, 0 when the box was dropped (then little of the object may show).</summary>
    private static int Agrees(Tensor images, int i, BoxList boxes, float tolerance)
    {
        var bright = BrightBox(images, i);
        if (boxes.Count == 0)
        {
            using var count = images[i, 0].gt(0.5).sum();
            Assert.True(count.item<long>() < 0.25 * 48 * 48, $"image {i}: the box was dropped but much of the object shows");
            return 0;
        }
        Assert.NotNull(bright);
        var b = boxes.Boxes[0];
        var (x0, y0, x1, y1) = bright!.Value;
        Assert.True(Math.Abs(b.XMin - x0) <= tolerance && Math.Abs(b.YMin - y0) <= tolerance && Math.Abs(b.XMax - x1) <= tolerance && Math.Abs(b.YMax - y1) <= tolerance,
            $"image {i}: box {b}, drawn pixels ({x0}, {y0}, {x1}, {y1})");
        return 1;
    }

    // ---- Metric --------------------------------------------------------------------------------

    private static IReadOnlyList<DetectedBox> Found(params DetectedBox[] boxes) => boxes;

    private static IReadOnlyList<TrueBox> True(params TrueBox[] boxes) => boxes;

    [Fact]
    public void AveragePrecisionMatchesHandWorkedCases()
    {
        var truths = new[] { True(new TrueBox(0, 0, 0, 10, 10), new TrueBox(0, 20, 20, 30, 30)) };
        // Best first: a hit, a miss, a hit. Precision 1, 1/2, 2/3 → non-increasing 1, 2/3, 2/3; recall 1/2, 1/2, 1.
        var found = new[] { Found(new DetectedBox(0, 0.9f, 0, 0, 10, 10), new DetectedBox(0, 0.8f, 50, 50, 60, 60), new DetectedBox(0, 0.7f, 21, 20, 30, 30)) };
        var result = AveragePrecision.Compute(found, truths, 1);
        // Recall points 0..0.50 (51 of them) read precision 1; 0.51..1 (50) read 2/3.
        Assert.Equal((51 + 50 * 2.0 / 3) / 101, result.Ap50, 9);
        Assert.Equal(1.0, result.Recall50, 9);
        // The shifted box has IoU 0.9 and counts up to 0.9; the exact box always: AP averages over thresholds.
        Assert.True(result.Ap < result.Ap50);

        Assert.Equal(1.0, AveragePrecision.Compute(new[] { Found(new DetectedBox(0, 0.5f, 0, 0, 10, 10), new DetectedBox(0, 0.4f, 20, 20, 30, 30)) }, truths, 1).Ap, 9);
        Assert.Equal(0.0, AveragePrecision.Compute(new[] { Found() }, truths, 1).Ap50, 9);
        // A duplicate of a found box is a false positive; the wrong class finds nothing.
        var duplicate = AveragePrecision.Compute(new[] { Found(new DetectedBox(0, 0.9f, 0, 0, 10, 10), new DetectedBox(0, 0.8f, 0, 0, 10, 10)) }, truths, 1);
        Assert.Equal(0.5, duplicate.Recall50, 9);
        Assert.Equal(51.0 / 101, duplicate.Ap50, 9);
        var wrongClass = AveragePrecision.Compute(new[] { Found(new DetectedBox(1, 0.9f, 0, 0, 10, 10)) }, truths, 2);
        Assert.Equal(0.0, wrongClass.Ap50, 9);
        Assert.True(double.IsNaN(wrongClass.PerClassAp50[1]), "a class without true boxes is left out");
    }

    [Fact]
    public void TheDisplayThresholdIsTheScoreOfTheBestF1()
    {
        var truths = new[] { True(new TrueBox(0, 0, 0, 10, 10), new TrueBox(0, 20, 20, 30, 30)) };
        // Hit, miss, hit, miss: F1 2/3, 1/2, 4/5, 2/3; the best keeps the first three, so the cut lies between 0.7 and 0.3.
        var found = new[] { Found(new DetectedBox(0, 0.9f, 0, 0, 10, 10), new DetectedBox(0, 0.8f, 50, 50, 60, 60), new DetectedBox(0, 0.7f, 20, 20, 30, 30),
            new DetectedBox(0, 0.3f, 70, 70, 80, 80)) };
        Assert.Equal(0.5, AveragePrecision.BestF1Threshold(found, truths, 1, fallback: 0.2), 6);
        Assert.Equal(0.2, AveragePrecision.BestF1Threshold(new[] { Found() }, truths, 1, fallback: 0.2));
    }

    [Theory]
    [InlineData("one_class")]
    [InlineData("three_classes")]
    public void AveragePrecisionMatchesAnIndependentNumpyComputation(string name)
    {
        // Fixtures/detection-ap-reference.json comes from numpy alone (detection_ap_reference.py beside it, pycocotools' procedure).
        var reference = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "detection-ap-reference.json")))![name]!;
        int classes = (int)reference["classes"]!;
        var truths = reference["truths"]!.AsArray().Select(img => (IReadOnlyList<TrueBox>)img!.AsArray().Select(b =>
            new TrueBox((int)b![0]!, (float)(double)b[1]!, (float)(double)b[2]!, (float)(double)b[3]!, (float)(double)b[4]!)).ToList()).ToList();
        var found = reference["detections"]!.AsArray().Select(img => (IReadOnlyList<DetectedBox>)img!.AsArray().Select(b =>
            new DetectedBox((int)b![0]!, (float)(double)b[1]!, (float)(double)b[2]!, (float)(double)b[3]!, (float)(double)b[4]!, (float)(double)b[5]!)).ToList()).ToList();
        var result = AveragePrecision.Compute(found, truths, classes);
        Assert.Equal((double)reference["ap50"]!, result.Ap50, 5);
        Assert.Equal((double)reference["ap"]!, result.Ap, 5);
        Assert.Equal((double)reference["recall50"]!, result.Recall50, 5);
        var perClass = reference["per_class_ap50"]!.AsArray();
        for (int c = 0; c < classes; c++)
            if (perClass[c] is { } value) Assert.Equal((double)value, result.PerClassAp50[c], 5);
            else Assert.True(double.IsNaN(result.PerClassAp50[c]));
    }

    // ---- Loss, assignment, decoding ----------------------------------------------------------------

    [Fact]
    public void FocalAndGiouLossesFollowTheirFormulas()
    {
        using var logits = tensor(new[] { 2f, -1f, 0f });
        using var targets = tensor(new[] { 1f, 0f, 1f });
        float[] focal = DetectionLoss.FocalLoss(logits, targets).data<float>().ToArray();
        for (int i = 0; i < 3; i++)
        {
            double p = 1 / (1 + Math.Exp(-new[] { 2.0, -1, 0 }[i])), t = new[] { 1.0, 0, 1 }[i];
            double pt = t == 1 ? p : 1 - p, alpha = t == 1 ? 0.25 : 0.75;
            Assert.Equal(-alpha * Math.Pow(1 - pt, 2) * Math.Log(pt), focal[i], 5);
        }
        // Two 10×10 boxes overlapping by 5×10: IoU 50/150; the hull 15×10 is the union, so GIoU = IoU.
        using var a = tensor(new[] { 0f, 0, 10, 10, 0, 0, 10, 10 }, new long[] { 2, 4 });
        using var b = tensor(new[] { 5f, 0, 15, 10, 20, 20, 30, 30 }, new long[] { 2, 4 });
        float[] giou = DetectionLoss.GiouLoss(a, b).data<float>().ToArray();
        Assert.Equal(1 - 50.0 / 150, giou[0], 5);
        // Disjoint: IoU 0, hull 30×30 = 900, union 200: GIoU = −700/900.
        Assert.Equal(1 + 700.0 / 900, giou[1], 5);
    }

    /// <summary>Detector rows for locations (x, y, stride) with zero outputs and one class.</summary>
    private static Tensor Rows(params (float X, float Y, float Stride)[] locations)
    {
        var values = locations.SelectMany(l => new[] { 0f, 0, 0, 0, 0, 0, l.X, l.Y, l.Stride }).ToArray();
        return tensor(values, new long[] { 1, locations.Length, 1 + FcosDetector.ExtraColumns });
    }

    [Fact]
    public void ALocationLearnsTheSmallestBoxItLiesNearTheCentreOfAtItsLevel()
    {
        // A 40×40 box (largest distance 20 from its centre: the finest level, stride 8, takes 0-64) and a 200×200 one around it.
        using var targets = tensor(new[] { 0f, 100, 100, 140, 140, 0, 20, 20, 220, 220, -1, 0, 0, 0, 0 }, new long[] { 1, 3, 5 });
        using var rows = Rows((120, 120, 8), (104, 104, 8), (60, 60, 8), (120, 120, 16), (300, 300, 8), (120, 120, 128));
        var (positive, cls, box) = DetectionLoss.Assign(rows, targets);
        bool[] p = positive.data<bool>().ToArray();
        // At the small box's centre, stride 8: positive for it (the smallest). 16 px off-centre: beyond 1.5 strides.
        Assert.Equal(new[] { true, false, false, true, false, false }, p);
        Assert.Equal(new[] { 100f, 100, 140, 140 }, box[0, 0].data<float>().ToArray());
        // At stride 16 (distances 64-128) the large box (100 to each side) fits, the small one does not.
        Assert.Equal(new[] { 20f, 20, 220, 220 }, box[0, 3].data<float>().ToArray());
        Assert.Equal(new long[] { 0, -1, -1, 0, -1, -1 }, cls.data<long>().ToArray());
    }

    [Fact]
    public void DecodingKeepsTheBestOfOverlappingBoxesPerClassAndMapsDistancesByStride()
    {
        // Two locations find nearly the same box of class 0; a third finds class 1 at the same place.
        float Logit(double p) => (float)Math.Log(p / (1 - p));
        float high = Logit(0.99), low = Logit(0.01);
        var values = new[]
        {
            high, low, 1, 1, 1, 1, 10, 40, 40, 8,   // class 0, box (32, 32, 48, 48), score √(0.99·sigmoid(10))
            Logit(0.5), low, 1, 1, 1.25f, 1, 10, 41, 40, 8,
            low, Logit(0.9), 1, 1, 1, 1, 10, 40, 40, 8,
            low, low, 1, 1, 1, 1, 10, 80, 80, 8,   // scores below any threshold
        };
        using var rows = tensor(values, new long[] { 1, 4, 2 + FcosDetector.ExtraColumns });
        var found = new BoxDecoding(ScoreThreshold: 0.2).Decode(rows)[0];
        Assert.Equal(2, found.Count);
        Assert.Equal(0, found[0].Class);
        Assert.Equal((32f, 32f, 48f, 48f), (found[0].XMin, found[0].YMin, found[0].XMax, found[0].YMax));
        Assert.Equal(Math.Sqrt(0.99 / (1 + Math.Exp(-10))), found[0].Score, 4);
        Assert.Equal(1, found[1].Class);
        // Clipped to the frame when one is given.
        var clipped = new BoxDecoding(ScoreThreshold: 0.2).Decode(rows, width: 44, height: 100)[0];
        Assert.Equal(44f, clipped[0].XMax);
        Assert.Throws<OptionException>(() => new BoxDecoding(NmsIou: 0).Validate());
    }

    [Fact]
    public void ProbabilitiesPassTheScoresThroughASigmoidAndLogitsGiveTheRowsBack()
    {
        using var rows = tensor(new[] { 2f, -1f, 0.5f, 1, 2, 3, -0.5f, 40, 40, 8 }, new long[] { 1, 1, 2 + FcosDetector.ExtraColumns });
        using var probabilities = ImageTask.Detection.Probabilities(rows);
        float[] p = probabilities.data<float>().ToArray();
        Assert.Equal(1 / (1 + Math.Exp(-2)), p[0], 5);
        Assert.Equal(1 / (1 + Math.Exp(0.5)), p[6], 5);
        // Distances and locations are not scores: unchanged.
        Assert.Equal(new[] { 0.5f, 1, 2, 3 }, p[2..6]);
        Assert.Equal(new[] { 40f, 40, 8 }, p[7..]);
        using var back = ImageTask.Detection.Logits(probabilities);
        Assert.True(back.allclose(rows, rtol: 1e-4, atol: 1e-5));
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(64, 80)]
    public void TheDetectorAnswersEveryLocationOfEveryLevel(int height, int width)
    {
        using var model = VisionModel.Create("resnet18", 3, "none", detector: DetectorOptions.Default with { Channels = 32, TowerDepth = 1 });
        Assert.Equal(new[] { 8, 16, 32, 64, 128 }, model.Detector!.Strides);
        model.eval();
        using var input = randn(2, 3, height, width);
        using var rows = model.forward(input);
        long locations = new[] { 8, 16, 32, 64, 128 }.Sum(s => (long)Math.Ceiling(height / (double)s) * (long)Math.Ceiling(width / (double)s));
        Assert.Equal(new long[] { 2, locations, 3 + FcosDetector.ExtraColumns }, rows.shape);
        // The first row is the finest level's top-left cell; the last the coarsest level's.
        Assert.Equal(new[] { 4f, 4f, 8f }, rows[0, 0].narrow(0, 3 + 5, 3).data<float>().ToArray());
        Assert.Equal(new[] { 64f, 64f, 128f }, rows[1, locations - 1].narrow(0, 3 + 5, 3).data<float>().ToArray());
        // The classes start at the focal prior; the distances are non-negative.
        using var scores = rows.narrow(2, 0, 3).sigmoid().mean();
        Assert.InRange(scores.item<float>(), 0.002, 0.05);
        using var smallest = rows.narrow(2, 3, 4).min();
        Assert.True(smallest.item<float>() >= 0);
    }

    // ---- End to end ----------------------------------------------------------------------------

    [Fact]
    [Trait("Category", Category.Slow)]
    public void ADetectorTrainsExportsReloadsAndFindsBoxesInEachImagesOwnPixels()
    {
        using var dir = new TempFolder();
        string csv = DetectionImages.WriteCsv(dir, 48);
        var data = new DataSource(dir.Path) { Boxes = csv }.Load(new DataOptions
        {
            Item = new ItemTransform(64), ValidPct = 0.25, Loader = new LoaderOptions { BatchSize = 4 },
        });
        Assert.Same(ImageTask.Detection, data.Task);
        Assert.Equal(2, data.Valid.MaxBoxes);
        using (var grid = new TempFolder())
        {
            // show-batch draws the boxes where the augmentation put them.
            var shown = data.ShowBatch(4, training: true, cellSize: 64);
            Assert.True(shown.Width > 64);
        }
        using var learner = VisionLearner.Create(data);
        learner.FineTune(5, 3e-3, freezeEpochs: 1);
        Assert.Equal(6, learner.History.Count);
        var last = learner.History[^1].Metrics;
        Assert.Equal(new[] { "ap50", "ap", "recall50" }, last.Keys);
        Assert.True(last["ap50"] > 0.5, $"after 6 epochs on bright rectangles AP50 is only {last["ap50"]:F3} ({string.Join(", ", learner.History.Select(h => h.Metrics["ap50"].ToString("F3")))})");
        Assert.True(learner.History[^1].TrainLoss < learner.History[0].TrainLoss);

        string file = dir.File("model.lumen");
        learner.Export(file);
        using var predictor = Predictor.Load(file);
        Assert.Same(ImageTask.Detection, predictor.Info.Task);
        Assert.NotNull(predictor.Info.Spec.Detector);
        // The display threshold was chosen on the validation images.
        Assert.InRange(predictor.Info.Threshold, 0.01, 0.99);
        Assert.Equal(predictor.Info.Threshold, predictor.BoxDecoding.ScoreThreshold);
        // The reloaded model gives the learner's outputs.
        using (var fromLearner = Predictor.ForLearner(learner))
        {
            var image = predictor.Prepare(data.Valid.Items[0].Path);
            using var a = fromLearner.Probabilities(new[] { image });
            using var b = predictor.Probabilities(new[] { image });
            Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-5));
        }
        Assert.Throws<LumenException>(() => predictor.Predict(data.Valid.Items[0].Path));

        // ONNX Runtime (the CPU default) and LibTorch agree on a whole frame of another shape, where the
        // pyramid resizes to its laterals and the graph computes each level's locations from its size.
        Assert.Equal(InferenceEngine.Onnx, predictor.Engine);
        using var torchEngine = Predictor.Load(file, new PredictorOptions { Engine = InferenceEngine.Torch });
        var (frame, _) = predictor.Transform.WholeFrame(predictor.Transform.Load(dir.Write("wide.png", TestImages.Encode(DetectionImages.Draw(150, 88, 5).Image, SKEncodedImageFormat.Png))));
        using (var onnxRows = predictor.Probabilities(new[] { frame }))
        using (var torchRows = torchEngine.Probabilities(new[] { frame }))
        {
            Assert.Equal(torchRows.shape, onnxRows.shape);
            using var difference = (onnxRows - torchRows).abs().max();
            Assert.True(difference.item<float>() < 1e-4f, $"ONNX and LibTorch rows differ by {difference.item<float>()}");
        }
        Assert.Throws<OptionException>(() => Predictor.Load(file, new PredictorOptions { Precision = InferencePrecision.Int8 }));

        // An image of another size: boxes in its own pixels, around its rectangle.
        var (big, drawn) = DetectionImages.Draw(160, 96, 77);
        string bigPath = dir.Write("big.png", TestImages.Encode(big, SKEncodedImageFormat.Png));
        var found = predictor.PredictBoxes(bigPath, BoxDecoding.Evaluation);
        Assert.Equal((160, 96), (found.Width, found.Height));
        Assert.All(found.Boxes, b => Assert.True(b.XMin >= 0 && b.YMin >= 0 && b.XMax <= 160 && b.YMax <= 96));
        Assert.NotEmpty(found.Boxes);
        var best = found.Boxes[0];
        Assert.True(LabelledBox.Iou(new LabelledBox("a", best.XMin, best.YMin, best.XMax, best.YMax), drawn[0]) > 0.3,
            $"the best box {best} is far from the drawn {drawn[0]}");

        var files = data.Valid.Items.Select(i => i.Path).Append(bigPath).ToList();
        var result = BoxPredictWorkflow.Run(predictor, new BoxPredictRequest
        {
            Files = files, Output = dir.File("boxes.out.csv"), Coco = dir.File("coco.json"), Draw = dir.File("drawn"),
            Decoding = BoxDecoding.Display with { ScoreThreshold = 0.99 },
        });
        Assert.Equal(files.Count, result.Predicted.Count);
        var lines = File.ReadAllLines(dir.File("boxes.out.csv"));
        Assert.Equal("file,label,score,xmin,ymin,xmax,ymax", lines[0]);
        // Every image appears: with a row per box, or one row with an empty label and score.
        Assert.All(files, f => Assert.Contains(lines, l => l.StartsWith(f + ",", StringComparison.Ordinal)));
        Assert.All(result.Predicted.Where(p => p.Boxes.Count == 0), p => Assert.Contains(p.Path + ",,,,,,", lines));
        var coco = JsonNode.Parse(File.ReadAllText(dir.File("coco.json")))!.AsArray();
        Assert.Equal(result.Predicted.Sum(p => p.Boxes.Count), coco.Count);
        Assert.Equal((160, 96), ImageDecoder.ReadSize(dir.File("drawn", "big.png")));
    }

    [Fact]
    [Trait("Category", Category.Slow)]
    public void EvaluationCrossValidationAndTheReportScoreBoxesAtTheImagesOwnSize()
    {
        using var dir = new TempFolder();
        string csv = DetectionImages.WriteCsv(dir, 12, prefix: "data/");
        var recipe = new TrainRequest
        {
            Data = new DataSource(dir.File("data")) { Boxes = csv },
            OutputFolder = dir.File("run"),
            DataOptions = new DataOptions { Item = new ItemTransform(48), ValidPct = 0.3, Loader = new LoaderOptions { BatchSize = 4, Workers = 2 } },
            Weights = "none", Epochs = 1, FreezeEpochs = 0, Lr = 1e-3, Report = true,
        };
        var trained = TrainWorkflow.Run(recipe);
        Assert.Contains("Missed findings and false alarms", File.ReadAllText(trained.ReportPath!));
        Assert.True(File.Exists(dir.File("run", "precision_recall.png")));
        Assert.Contains("\"ap50\"", File.ReadAllText(dir.File("run", "metrics.json")));

        using var predictor = Predictor.Load(trained.ModelPath!);
        var items = Evaluation.LabelledItems(predictor, dir.File("data"), boxes: csv);
        Assert.Equal(12, items.Count);
        var (scored, skipped) = Evaluation.Detect(predictor, items);
        Assert.Empty(skipped);
        var figures = Evaluation.DetectionFigures(scored, predictor.Classes);
        Assert.InRange(figures.Ap50, 0, 1);
        Assert.Throws<OptionException>(() => Evaluation.LabelledItems(predictor, dir.File("data")));

        var cv = CrossValidation.Run(new CrossValidationRequest { Recipe = recipe with { OutputFolder = dir.File("cv"), Report = false }, Folds = 3 });
        Assert.Same(ImageTask.Detection, cv.Task);
        Assert.Equal(new[] { "ap50", "ap", "recall50" }, cv.MetricNames);
        Assert.Equal(12, cv.Folds.Sum(f => f.ValidImages));
        Assert.Null(cv.Confusion());
        Assert.Equal(12, cv.OutOfFold.Count);
    }
}
