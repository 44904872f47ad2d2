using Lumen.Imaging;
using Lumen.Data;
using Lumen.Inference;
using Lumen.Models;

namespace Lumen.Tests.Support;

/// <summary>A random-init ResNet-18 saved as a .lumen file (no training): for tests of commands that only need a model file.</summary>
public static class TinyModel
{
    public static string Save(string path, IReadOnlyList<string>? classes = null, int size = 32)
    {
        classes ??= new[] { "a", "b" };
        TorchSharp.torch.manual_seed(5);
        using var model = VisionModel.Create("resnet18", classes.Count, weights: "none");
        model.eval();
        var training = new TrainingInfo(new Dictionary<string, double>(), 0, 42, DateTime.UtcNow, "test", "", 0, 0, "cross_entropy", Lumen.Augment.AugmentOptions.Default);
        ModelFile.Save(model, classes, Lumen.Tasks.ImageTask.SingleLabel, 0.5, new Preprocessing(size, ResizeMethod.Crop, PadMode.Reflection, model.Normalization), training, path);
        return path;
    }
}
