// Trains one epoch on generated images through the Lumen package, prints its progress with the
// ready TextProgress reporter, and predicts one image with the exported model.
using Lumen;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Workflows;
using SkiaSharp;

string root = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "lumen-consumer");
var random = new Random(1);
foreach (var (label, colour) in new[] { ("red", new SKColor(220, 40, 40)), ("blue", new SKColor(40, 40, 220)) })
{
    Directory.CreateDirectory(Path.Combine(root, "data", label));
    for (int i = 0; i < 10; i++)
    {
        using var bitmap = new SKBitmap(48, 48);
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 48; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)Math.Clamp(colour.Red + random.Next(-30, 30), 0, 255), colour.Green, (byte)Math.Clamp(colour.Blue + random.Next(-30, 30), 0, 255)));
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(Path.Combine(root, "data", label, $"{i}.png"), data.ToArray());
    }
}

var run = TrainWorkflow.Run(new TrainRequest
{
    Data = new DataSource(Path.Combine(root, "data")),
    OutputFolder = Path.Combine(root, "run"),
    DataOptions = new DataOptions { Item = new ItemTransform(32), Augment = AugmentOptions.None, Loader = new LoaderOptions { BatchSize = 4 } },
    Epochs = 1,
    FreezeEpochs = 0,
}, new TextProgress(Console.Out));
using var predictor = Predictor.Load(run.ModelPath!);
var prediction = predictor.Predict(Path.Combine(root, "data", "red", "0.png"));
Console.WriteLine($"consumer: trained {run.Learner.History.Count} epoch, model {run.ModelPath}, red/0.png → {prediction.Label} ({prediction.Probability:P0})");
