using Lumen.Data;
using Lumen.Models;

namespace Lumen.Training;

/// <summary>
/// The one-liner (fastai's <c>vision_learner</c>, and <c>unet_learner</c> for a segmentation): a
/// pretrained architecture with a new head (or U-Net decoder, or detector) for the data's classes, frozen.
/// </summary>
public static class VisionLearner
{
    /// <summary>
    /// Builds the model for <paramref name="data"/>'s classes on the data's device (initialised from the
    /// data's seed), wraps it in a
    /// <see cref="Learner"/> (which normalises the data for the weights) and freezes the body.
    /// </summary>
    /// <param name="data">The data.</param>
    /// <param name="architecture">Registry name (default resnet18, whose ImageNet weights ship offline, as the CLI's default).</param>
    /// <param name="pretrained">Start from ImageNet weights (offline for resnet18); false for random init.</param>
    /// <param name="weights">Overrides <paramref name="pretrained"/>: <c>imagenet</c>, <c>imagenet-mlnet</c>, <c>none</c> or a .pth path.</param>
    /// <param name="options">Training settings.</param>
    /// <param name="head">Head settings.</param>
    /// <param name="progress">Receives download/conversion progress.</param>
    /// <param name="callbacks">Callbacks for every fit (fastai's <c>cbs</c>), e.g. <see cref="CallbackOptions.Build"/>'s.</param>
    /// <param name="unet">The U-Net decoder's settings when the data is a segmentation (fastai's <c>unet_learner</c>); null for fastai's.</param>
    /// <param name="detector">The detector's settings when the data has boxes; null for the defaults.</param>
    public static Learner Create(ImageDataLoaders data, string architecture = "resnet18", bool pretrained = true, string? weights = null,
        TrainingOptions? options = null, HeadOptions? head = null, IProgressReporter? progress = null, IEnumerable<ICallback>? callbacks = null,
        UnetOptions? unet = null, DetectorOptions? detector = null)
    {
        // The head's initialisation draws from torch's generator: seed it from the run seed so --seed
        // reproduces a run (training reseeds per batch, see Learner), and give the caller's generator
        // state back afterwards.
        VisionModel model;
        using (new GeneratorStateScope())
        {
            TorchSharp.torch.manual_seed(data.Options.Seed);
            model = VisionModel.Create(architecture, data.Vocab.Count, weights ?? (pretrained ? "default" : "none"), head, data.Train.Device, progress,
                unet: data.Task.PerPixel ? unet ?? UnetOptions.Default : null, detector: data.Task.PerBox ? detector ?? DetectorOptions.Default : null);
        }
        var learner = new Learner(data, model, options: options, callbacks: callbacks) { Progress = progress ?? NullProgress.Instance };
        learner.Freeze();
        return learner;
    }
}
