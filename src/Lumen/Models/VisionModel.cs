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
    /// <summary>The body's block layout when it differs from the architecture's standard one.</summary>
    public IReadOnlyList<int>? Layout => Weights == MlNetResNet18.WeightsName ? MlNetResNet18.Layout : null;
}

/// <summary>
/// A transfer-learning classifier: a pretrained <see cref="Body"/> (feature extractor) and a new
/// <see cref="Head"/>, with the body split into layer groups for discriminative learning rates.
/// </summary>
public sealed class VisionModel : Module<Tensor, Tensor>
{
    private readonly Sequential body;
    private readonly Sequential head;

    private VisionModel(ModelSpec spec, Sequential body, Sequential head) : base(nameof(VisionModel))
    {
        Spec = spec;
        this.body = body;
        this.head = head;
        RegisterComponents();
    }

    /// <summary>How to rebuild this model.</summary>
    public ModelSpec Spec { get; }

    /// <summary>The architecture.</summary>
    public Architecture Architecture => Architectures.Get(Spec.Architecture);

    /// <summary>The feature extractor; its output is N×<see cref="Architecture.Features"/>×h×w.</summary>
    public Sequential Body => body;

    /// <summary>The classifier head.</summary>
    public Sequential Head => head;

    /// <summary>The weights' input normalisation (give it to the data pipeline).</summary>
    public Normalization Normalization => Spec.Normalization;

    /// <summary>Logits, N×classes.</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        using Tensor features = body.forward(input);
        return head.forward(features).MoveToOuterDisposeScope();
    }

    /// <summary>Layer groups, first to last (fastai's splitter): the body's groups, then the head.</summary>
    public IReadOnlyList<IReadOnlyList<Parameter>> LayerGroups()
    {
        var groups = Architecture.SplitBody(body).Select(g => (IReadOnlyList<Parameter>)g.SelectMany(m => m.parameters()).ToList()).ToList();
        groups.Add(head.parameters().ToList());
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
    public static VisionModel Create(string architecture, int classes, string weights = "default", HeadOptions? head = null,
        Device? device = null, IProgressReporter? progress = null)
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
        var spec = new ModelSpec(arch.Name, classes, head ?? HeadOptions.Default, resolved, Normalization.ImageNet);
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
        var model = new VisionModel(spec, body, Models.Head.Create(arch.Features, classes, spec.Head));
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }

    /// <summary>Rebuilds the module structure of <paramref name="spec"/> with random weights (to load saved weights into).</summary>
    public static VisionModel Rebuild(ModelSpec spec, Device? device = null)
    {
        Architecture arch = Architectures.Get(spec.Architecture);
        var model = new VisionModel(spec, arch.BuildBody(spec.Layout), Models.Head.Create(arch.Features, spec.Classes, spec.Head));
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }
}
