using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lumen.Models;

/// <summary>
/// One architecture Lumen can build as a transfer-learning body.
/// </summary>
/// <param name="Name">The registry name (torchvision's, e.g. <c>resnet34</c>).</param>
/// <param name="Family">resnet, resnext, wide_resnet, mobilenet or vgg.</param>
/// <param name="Features">Channels of the body's output feature map.</param>
/// <param name="TorchvisionFile">File name of torchvision's ImageNet weights (its hash prefix is part of the name).</param>
/// <param name="Description">One line for <c>lumen models</c>.</param>
public sealed record Architecture(string Name, string Family, int Features, string TorchvisionFile, string Description)
{
    internal Func<IReadOnlyList<int>?, Sequential> BuildBody { get; init; } = _ => throw new InvalidOperationException();

    internal Func<Sequential, IReadOnlyList<IReadOnlyList<Module>>> SplitBody { get; init; } = _ => throw new InvalidOperationException();

    /// <summary>A randomly initialised body in the standard layout (for inspection, e.g. counting parameters).</summary>
    public Sequential CreateBody() => BuildBody(null);

    /// <summary>True when the offline ML.NET ImageNet weights exist for this architecture (ResNet-18 only).</summary>
    public bool HasMlNetWeights => Name == "resnet18";

    /// <summary>Where torchvision publishes the ImageNet weights.</summary>
    public string TorchvisionUrl => TorchvisionWeights.BaseUrl + TorchvisionFile;
}

/// <summary>
/// The registry of architectures: one name each, a body builder, and the split into layer groups for
/// discriminative learning rates (fastai: stem..layer2 | layer3..layer4 | head for ResNets).
/// </summary>
public static class Architectures
{
    private static readonly Dictionary<string, Architecture> ByName = new(StringComparer.OrdinalIgnoreCase);

    static Architectures()
    {
        AddResNet("resnet18", "resnet", false, new[] { 2, 2, 2, 2 }, 1, 64, "resnet18-f37072fd.pth", "ResNet-18 (11.7M parameters with an ImageNet fc)");
        AddResNet("resnet34", "resnet", false, new[] { 3, 4, 6, 3 }, 1, 64, "resnet34-b627a593.pth", "ResNet-34");
        AddResNet("resnet50", "resnet", true, new[] { 3, 4, 6, 3 }, 1, 64, "resnet50-0676ba61.pth", "ResNet-50");
        AddResNet("resnet101", "resnet", true, new[] { 3, 4, 23, 3 }, 1, 64, "resnet101-63fe2227.pth", "ResNet-101");
        AddResNet("resnet152", "resnet", true, new[] { 3, 8, 36, 3 }, 1, 64, "resnet152-394f9c45.pth", "ResNet-152");
        AddResNet("resnext50_32x4d", "resnext", true, new[] { 3, 4, 6, 3 }, 32, 4, "resnext50_32x4d-7cdf4587.pth", "ResNeXt-50 32x4d");
        AddResNet("resnext101_32x8d", "resnext", true, new[] { 3, 4, 23, 3 }, 32, 8, "resnext101_32x8d-8ba56ff5.pth", "ResNeXt-101 32x8d");
        AddResNet("wide_resnet50_2", "wide_resnet", true, new[] { 3, 4, 6, 3 }, 1, 128, "wide_resnet50_2-95faca4d.pth", "Wide ResNet-50-2");
        AddResNet("wide_resnet101_2", "wide_resnet", true, new[] { 3, 4, 23, 3 }, 1, 128, "wide_resnet101_2-32ee1156.pth", "Wide ResNet-101-2");
        AddFeatures("mobilenet_v2", "mobilenet", 1280, "mobilenet_v2-b0353104.pth", "MobileNetV2", () => torchvision.models.mobilenet_v2(1000));
        AddFeatures("mobilenet_v3_large", "mobilenet", 960, "mobilenet_v3_large-8738ca79.pth", "MobileNetV3-Large", torchvision.models.mobilenet_v3_large);
        AddFeatures("mobilenet_v3_small", "mobilenet", 576, "mobilenet_v3_small-047dcff4.pth", "MobileNetV3-Small", torchvision.models.mobilenet_v3_small);
        AddFeatures("vgg11_bn", "vgg", 512, "vgg11_bn-6002323d.pth", "VGG-11 with BatchNorm", () => torchvision.models.vgg11_bn());
        AddFeatures("vgg13_bn", "vgg", 512, "vgg13_bn-abd245e5.pth", "VGG-13 with BatchNorm", () => torchvision.models.vgg13_bn());
        AddFeatures("vgg16_bn", "vgg", 512, "vgg16_bn-6c64b313.pth", "VGG-16 with BatchNorm", () => torchvision.models.vgg16_bn());
        AddFeatures("vgg19_bn", "vgg", 512, "vgg19_bn-c79401a0.pth", "VGG-19 with BatchNorm", () => torchvision.models.vgg19_bn());
    }

    /// <summary>All architectures, in registry order.</summary>
    public static IReadOnlyList<Architecture> All => ByName.Values.ToList();

    /// <summary>Looks up an architecture by name (case-insensitive).</summary>
    /// <exception cref="LumenException">The name is unknown; the message lists the known names.</exception>
    public static Architecture Get(string name) => ByName.TryGetValue(name, out var a)
        ? a
        : throw new OptionException(OptionName.Architecture, $"'{name}' is unknown; known: {string.Join(", ", ByName.Keys)}");

    private static void AddResNet(string name, string family, bool bottleneck, int[] layout, int groups, int width, string file, string description)
    {
        ByName[name] = new Architecture(name, family, bottleneck ? 2048 : 512, file, description)
        {
            BuildBody = custom => ResNet.Body(bottleneck, custom ?? layout, groups, width),
            SplitBody = body =>
            {
                var children = body.named_children().ToDictionary(c => c.name, c => (Module)c.module);
                return new IReadOnlyList<Module>[]
                {
                    new[] { children["conv1"], children["bn1"], children["layer1"], children["layer2"] },
                    new[] { children["layer3"], children["layer4"] },
                };
            },
        };
    }

    /// <summary>A torchvision model whose <c>features</c> module is the body (MobileNet, VGG).</summary>
    private static void AddFeatures(string name, string family, int features, string file, string description, Func<Module> factory)
    {
        ByName[name] = new Architecture(name, family, features, file, description)
        {
            BuildBody = _ =>
            {
                Module full = factory();
                var body = (Module<Tensor, Tensor>)full.named_children().Single(c => c.name == "features").module;
                foreach (var (childName, child) in full.named_children())
                    if (childName != "features") child.Dispose();
                return Sequential(("features", body));
            },
            SplitBody = body =>
            {
                var blocks = ((Module)body.named_children().Single().module).named_children().Select(c => (Module)c.module).ToList();
                int half = blocks.Count / 2;
                return new IReadOnlyList<Module>[] { blocks.Take(half).ToList(), blocks.Skip(half).ToList() };
            },
        };
    }
}
