using Lumen.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lumen.Models;

/// <summary>What is needed to rebuild a model (saved in the model file).</summary>
/// <param name="Architecture">Registry name, e.g. <c>resnet34</c>.</param>
/// <param name="Classes">Number of outputs.</param>
/// <param name="Head">Head settings.</param>
/// <param name="Weights">The pretrained weights the body started from: <c>none</c>, <c>imagenet</c>
/// (torchvision), <c>imagenet-mlnet</c> (offline ResNet-18, [2,2,2,3] layout), or a file name.</param>
/// <param name="Normalization">The input normalisation those weights expect.</param>
public sealed record ModelSpec(string Architecture, int Classes, HeadOptions Head, string Weights, Normalization Normalization)
{
    /// <summary>The U-Net decoder's settings when the model segments (per-pixel outputs); null for a classifier head.</summary>
    public UnetOptions? Unet { get; init; }

    /// <summary>The detector's settings when the model finds boxes; null otherwise.</summary>
    public DetectorOptions? Detector { get; init; }

    /// <summary>The body's block layout when it differs from the architecture's standard one.</summary>
    public IReadOnlyList<int>? Layout => Weights == MlNetResNet18.WeightsName ? MlNetResNet18.Layout : null;
}

/// <summary>
/// A transfer-learning model: a pretrained <see cref="Body"/> (feature extractor) and a new part
/// trained for the task: a classifier <see cref="Head"/> (N×classes outputs) or, for segmentation, a
/// U-Net <see cref="Decoder"/> (N×classes×H×W). The body is split into layer groups for discriminative
/// learning rates; the new part is the last group.
/// </summary>
public sealed class VisionModel : Module<Tensor, Tensor>
{
    private readonly Sequential body;
    private readonly Sequential? head;
    private readonly UnetDecoder? decoder;
    private readonly FcosDetector? detector;

    private VisionModel(ModelSpec spec, Sequential body, Sequential? head, UnetDecoder? decoder, FcosDetector? detector) : base(nameof(VisionModel))
    {
        Spec = spec;
        this.body = body;
        this.head = head;
        this.decoder = decoder;
        this.detector = detector;
        RegisterComponents();
    }

    private static VisionModel Assemble(ModelSpec spec, Architecture arch, Sequential body) =>
        spec.Unet is { } unet ? new VisionModel(spec, body, null, UnetDecoder.Create(body, spec.Classes, unet), null)
        : spec.Detector is { } detector ? new VisionModel(spec, body, null, null, FcosDetector.Create(body, spec.Classes, detector))
        : new VisionModel(spec, body, Models.Head.Create(arch.Features, spec.Classes, spec.Head), null, null);

    /// <summary>How to rebuild this model.</summary>
    public ModelSpec Spec { get; }

    /// <summary>The architecture.</summary>
    public Architecture Architecture => Architectures.Get(Spec.Architecture);

    /// <summary>The feature extractor; its output is N×<see cref="Architecture.Features"/>×h×w.</summary>
    public Sequential Body => body;

    /// <summary>The classifier head.</summary>
    /// <exception cref="InvalidOperationException">The model segments: it has a <see cref="Decoder"/> instead.</exception>
    public Sequential Head => head ?? throw new InvalidOperationException("a segmentation or detection model has no classifier head");

    /// <summary>The U-Net decoder of a segmentation model; null for a classifier.</summary>
    public UnetDecoder? Decoder => decoder;

    /// <summary>The pyramid and heads of a detector; null otherwise.</summary>
    public FcosDetector? Detector => detector;

    /// <summary>The part trained from scratch: the head, the decoder or the detector.</summary>
    public nn.Module NewPart => (nn.Module?)head ?? (nn.Module?)decoder ?? detector!;

    /// <summary>The weights' input normalisation (give it to the data pipeline).</summary>
    public Normalization Normalization => Spec.Normalization;

    /// <summary>Logits, N×classes (classifier), N×classes×H×W (segmentation) or N×locations×(classes+8) (detection, see <see cref="FcosDetector"/>).</summary>
    public override Tensor forward(Tensor input) => Forward(input, bodyWithoutGrad: false);

    /// <summary>
    /// As <see cref="forward"/>, with the body run without autograd when <paramref name="bodyWithoutGrad"/>
    /// (a frozen body: only the head or decoder gets gradients).
    /// </summary>
    public Tensor Forward(Tensor input, bool bodyWithoutGrad)
    {
        using var scope = NewDisposeScope();
        if (detector is not null)
        {
            List<Tensor> features;
            using (bodyWithoutGrad ? no_grad() : null) features = detector.Encode(UnetDecoder.EncoderLayers(body), input);
            return detector.Decode(input, features).MoveToOuterDisposeScope();
        }
        if (decoder is null)
        {
            Tensor features;
            using (bodyWithoutGrad ? no_grad() : null) features = body.forward(input);
            return head!.forward(features).MoveToOuterDisposeScope();
        }
        List<Tensor> skips;
        Tensor encoded;
        using (bodyWithoutGrad ? no_grad() : null) (skips, encoded) = decoder.Encode(UnetDecoder.EncoderLayers(body), input);
        return decoder.Decode(input, skips, encoded).MoveToOuterDisposeScope();
    }

    /// <summary>Layer groups, first to last (fastai's splitter): the body's groups, then the head.</summary>
    public IReadOnlyList<IReadOnlyList<Parameter>> LayerGroups()
    {
        var groups = Architecture.SplitBody(body).Select(g => (IReadOnlyList<Parameter>)g.SelectMany(m => m.parameters()).ToList()).ToList();
        groups.Add(NewPart.parameters().ToList());
        return groups;
    }

    /// <summary>
    /// Builds a model: the architecture's body with the chosen pretrained weights and a new head.
    /// </summary>
    /// <param name="architecture">Registry name (see <see cref="Architectures"/>).</param>
    /// <param name="classes">Number of outputs.</param>
    /// <param name="weights"><c>default</c> (pretrained: offline ML.NET weights for resnet18, torchvision's
    /// otherwise), <c>none</c> (random), <c>imagenet</c>, <c>imagenet-mlnet</c>, or a <c>.pth</c> path.</param>
    /// <param name="head">Head settings; null for fastai's.</param>
    /// <param name="device">Where the model lives; null for the CPU.</param>
    /// <param name="progress">Receives download/conversion progress.</param>
    /// <param name="unet">A U-Net decoder instead of the head (segmentation); null for a classifier.</param>
    /// <param name="detector">A detector instead of the head (boxes); null for a classifier.</param>
    public static VisionModel Create(string architecture, int classes, string weights = "default", HeadOptions? head = null,
        Device? device = null, IProgressReporter? progress = null, UnetOptions? unet = null, DetectorOptions? detector = null)
    {
        Architecture arch = Architectures.Get(architecture);
        string resolved = weights.ToLowerInvariant() switch
        {
            "default" or "pretrained" => arch.HasMlNetWeights ? MlNetResNet18.WeightsName : "imagenet",
            "none" or "random" => "none",
            "imagenet" => "imagenet",
            MlNetResNet18.WeightsName when arch.HasMlNetWeights => MlNetResNet18.WeightsName,
            MlNetResNet18.WeightsName => throw new OptionException(OptionName.Weights, $"{MlNetResNet18.WeightsName} exists only for resnet18, not {arch.Name}"),
            _ => weights, // a file
        };
        var spec = new ModelSpec(arch.Name, classes, head ?? HeadOptions.Default, resolved, Normalization.ImageNet) { Unet = unet, Detector = detector };
        Sequential body = arch.BuildBody(spec.Layout);
        switch (resolved)
        {
            case "none":
                break;
            case MlNetResNet18.WeightsName:
                spec = spec with { Normalization = MlNetResNet18.LoadInto(body, progress) };
                break;
            case "imagenet":
                TorchvisionWeights.LoadInto(body, TorchvisionWeights.Resolve(arch, progress), arch.Name);
                break;
            default:
                TorchvisionWeights.LoadInto(body, resolved, arch.Name);
                spec = spec with { Weights = Path.GetFileName(resolved) };
                break;
        }
        var model = Assemble(spec, arch, body);
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }

    /// <summary>Rebuilds the module structure of <paramref name="spec"/> with random weights (to load saved weights into).</summary>
    public static VisionModel Rebuild(ModelSpec spec, Device? device = null)
    {
        Architecture arch = Architectures.Get(spec.Architecture);
        var model = Assemble(spec, arch, arch.BuildBody(spec.Layout));
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }
}
