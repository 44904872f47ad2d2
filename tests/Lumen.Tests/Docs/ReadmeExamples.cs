using Lumen.Augment;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Training;
using Lumen.Workflows;

namespace Lumen.Tests;

/// <summary>
/// The README's C# examples, verbatim between "README:" and "END" markers: <see cref="ReadmeTests"/>
/// checks that the README shows exactly these blocks, so every example in it compiles against today's
/// API. They are compiled, not run (they train at 224 px on folders only a user has).
/// </summary>
internal static class ReadmeExamples
{
    public static void Data(IReadOnlyList<LabelledItem> items)
    {
        // README:data
        var dls = ImageDataLoaders.FromFolder("photos", new DataOptions { Item = new ItemTransform(224), Augment = AugmentOptions.Endoscopy });
        foreach (var batch in dls.Train.Batches(epoch: 0)) { using (batch) { /* batch.Images: N×3×224×224, batch.Targets */ } }
        dls.ShowBatch(16).SavePng("batch.png");

        var fromCsv = ImageDataLoaders.FromCsv("photos", "labels.csv");                    // file,label[,is_valid]
        var byRegex = ImageDataLoaders.FromNameRegex("pets", @"^(.+)_\d+\.jpg$");           // label = group 1
        var custom = ImageDataLoaders.FromItems(items, Splitter.ByFunc(i => i.Path.Contains("/2025/")));
        // END
    }

    public static void TrainingFromCode()
    {
        // README:training
        var dls = ImageDataLoaders.FromFolder("photos", new DataOptions { Item = new ItemTransform(224) });
        using var learn = VisionLearner.Create(dls);                  // resnet18, ImageNet weights (offline), frozen
        var lr = learn.LrFind().Valley;                               // optional
        learn.FineTune(4, baseLr: lr);                                // fastai v2 fine_tune
        learn.Export("model.lumen");                                  // or: learn.Predict("new.jpg")
        using var predictor = Predictor.Load("model.lumen");
        Console.WriteLine(predictor.Predict("new.jpg").Label);
        // END
    }

    public static void Segmentation()
    {
        // README:segmentation
        var dls = ImageDataLoaders.FromMasks("kvasir-seg/images", "kvasir-seg/masks", options: new DataOptions { Item = new ItemTransform(128) });
        using var learn = VisionLearner.Create(dls);                  // unet_learner: a U-Net on the ImageNet resnet18, frozen
        learn.FineTune(8, baseLr: learn.LrFind().Valley);
        learn.Export("polyps.lumen");
        using var predictor = Predictor.Load("polyps.lumen");
        MaskPrediction polyp = predictor.PredictMask("new.jpg");     // a class per pixel, at the image's own size
        File.WriteAllBytes("new-mask.png", polyp.Mask.EncodePng(binary: true));
        Console.WriteLine($"polyp area: {polyp.AreaFractions[1]:P1}");
        // END
    }

    public static void Detection()
    {
        // README:detection
        var dls = ImageDataLoaders.FromBoxes("kvasir-seg/images", "kvasir-seg/kavsir_bboxes.json",
            options: new DataOptions { Item = new ItemTransform(256), Augment = AugmentOptions.Boxes });   // lumen train's defaults with --boxes
        using var learn = VisionLearner.Create(dls);                  // FCOS with a feature pyramid on the ImageNet resnet18, frozen
        learn.FineTune(8, baseLr: 2e-3);
        learn.Export("polyp-boxes.lumen");
        using var predictor = Predictor.Load("polyp-boxes.lumen");
        foreach (PredictedBox box in predictor.PredictBoxes("new.jpg").Boxes)  // in the image's own pixels, best first
            Console.WriteLine($"{box.Label} {box.Score:F2} at ({box.XMin:F0}, {box.YMin:F0})-({box.XMax:F0}, {box.YMax:F0})");
        // END
    }

    public static void Pets()
    {
        // README:pets
        // fastai's pets lesson: in the Oxford-IIIT Pet file names, cat breeds start upper-case
        var pets = ImageDataLoaders.FromNameFunc("images", name => char.IsUpper(name[0]) ? "cat" : "dog",
            new DataOptions { Item = new ItemTransform(224) });
        using var learn = VisionLearner.Create(pets);
        learn.Callbacks.Add(new StopAtAccuracy(0.99));
        learn.FineTune(1);
        Console.WriteLine(learn.Predict("my-cat.jpg").Label);
        // END
    }

    public static void Workflow()
    {
        // README:workflow
        var run = TrainWorkflow.Run(new TrainRequest { Data = new DataSource("photos"), OutputFolder = "runs/photos" },
            new TextProgress(Console.Out));                      // the progress and epoch table lumen train shows
        Console.WriteLine($"{run.ModelPath}: accuracy {run.Learner.History[^1].Metrics["accuracy"]:P1}");
        // END
    }
}

// README:callback
/// <summary>A callback: stops training once validation accuracy reaches a target.</summary>
sealed class StopAtAccuracy(double target) : ICallback
{
    public void AfterEpoch(Learner learn)
    {
        if (learn.History[^1].Metrics["accuracy"] >= target) learn.Stop($"accuracy reached {target:P0}");
    }
}
// END
