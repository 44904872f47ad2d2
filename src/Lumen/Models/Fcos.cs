using Lumen.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Lumen.Models;

/// <summary>Settings of the detector put on a pretrained body (FCOS: Tian et al. 2019, as torchvision builds it).</summary>
public sealed record DetectorOptions
{
    /// <summary>
    /// Channels of the feature pyramid and the heads. torchvision's 256 makes the heads four times a
    /// ResNet-18's work at the finest level; 128 keeps a default run within half an hour on two cores.
    /// </summary>
    public int Channels { get; init; } = 128;

    /// <summary>3×3 convolutions (GroupNorm, ReLU) in each of the classification and box towers (torchvision: 4).</summary>
    public int TowerDepth { get; init; } = 4;

    /// <summary>The defaults.</summary>
    public static DetectorOptions Default { get; } = new();
}

/// <summary>
/// A single-stage, anchor-free detector on any body (FCOS as torchvision's <c>fcos_resnet50_fpn</c>):
/// a feature pyramid over the body's last three resolutions (strides 8, 16, 32 on a ResNet) plus two
/// extra levels (strides 64, 128) from the coarsest, and a head shared by every level: a classification
/// tower ending in a sigmoid logit per class (prior 0.01), a box tower ending in the four distances from
/// the location to the box's sides (ReLU, in units of the level's stride) and a centre-ness logit.
/// <para>
/// The output is one row per location of every level, N×L×(C+8): C class logits, the four raw distances,
/// the centre-ness logit, then the location's x, y (input pixels) and stride, so the loss, the metrics
/// and the box decoding read everything they need from the output alone, whatever the input size.
/// </para>
/// </summary>
public sealed class FcosDetector : nn.Module
{
    /// <summary>Columns after the class logits: 4 distances, centre-ness, x, y, stride.</summary>
    public const int ExtraColumns = 8;

    private readonly ModuleList<Conv2d> lateral;
    private readonly ModuleList<Conv2d> smooth;
    private readonly Conv2d p6;
    private readonly Conv2d p7;
    private readonly Sequential cls_tower;
    private readonly Sequential box_tower;
    private readonly Conv2d cls_logits;
    private readonly Conv2d box_distances;
    private readonly Conv2d centerness;
    private readonly int[] _featureLayers;
    private readonly int[] _strides;

    private FcosDetector(int[] featureLayers, int[] inChannels, int[] strides, int classes, DetectorOptions options) : base(nameof(FcosDetector))
    {
        _featureLayers = featureLayers;
        _strides = strides.Concat(new[] { strides[^1] * 2, strides[^1] * 4 }).ToArray();
        int ch = options.Channels;
        lateral = new ModuleList<Conv2d>(inChannels.Select(c => Conv2d(c, ch, 1)).ToArray());
        smooth = new ModuleList<Conv2d>(inChannels.Select(_ => Conv2d(ch, ch, 3, padding: 1)).ToArray());
        p6 = Conv2d(ch, ch, 3, stride: 2, padding: 1);
        p7 = Conv2d(ch, ch, 3, stride: 2, padding: 1);
        foreach (var conv in lateral.Concat(smooth).Append(p6).Append(p7))
        {
            // torchvision's FPN: Kaiming-uniform with a = 1, zero bias.
            init.kaiming_uniform_(conv.weight, a: 1);
            init.zeros_(conv.bias!);
        }
        cls_tower = Tower(ch, options.TowerDepth);
        box_tower = Tower(ch, options.TowerDepth);
        cls_logits = HeadConv(ch, classes);
        box_distances = HeadConv(ch, 4);
        centerness = HeadConv(ch, 1);
        using (no_grad())
        using (var prior = (-Math.Log((1 - PriorProbability) / PriorProbability)).ToScalar())
            cls_logits.bias!.fill_(prior);
        Classes = classes;
        RegisterComponents();
    }

    /// <summary>The classification logits start at this probability, so early focal losses are not swamped by the background (Lin et al.).</summary>
    public const double PriorProbability = 0.01;

    internal ModuleList<Conv2d> Lateral => lateral;

    internal ModuleList<Conv2d> Smooth => smooth;

    internal Conv2d P6 => p6;

    internal Conv2d P7 => p7;

    internal Sequential ClassTower => cls_tower;

    internal Sequential BoxTower => box_tower;

    internal Conv2d ClassLogits => cls_logits;

    internal Conv2d BoxDistances => box_distances;

    internal Conv2d Centerness => centerness;

    /// <summary>Number of classes (no background class: each is its own sigmoid).</summary>
    public int Classes { get; }

    /// <summary>Indices (into <see cref="UnetDecoder.EncoderLayers"/>) of the body layers whose outputs feed the pyramid, finest first.</summary>
    public IReadOnlyList<int> FeatureLayers => _featureLayers;

    /// <summary>Each pyramid level's stride in input pixels, finest first (8 to 128 on a ResNet).</summary>
    public IReadOnlyList<int> Strides => _strides;

    private static Sequential Tower(int channels, int depth)
    {
        var layers = new List<(string, Module<Tensor, Tensor>)>();
        for (int i = 0; i < depth; i++)
        {
            layers.Add(($"conv{i}", HeadConv(channels, channels)));
            // TorchSharp 0.107's GroupNorm leaves its affine parameters uninitialised (garbage, often NaN): set PyTorch's ones and zeros.
            var norm = GroupNorm(32, channels);
            init.ones_(norm.weight!);
            init.zeros_(norm.bias!);
            layers.Add(($"norm{i}", norm));
            layers.Add(($"relu{i}", ReLU()));
        }
        return Sequential(layers);
    }

    private static Conv2d HeadConv(int inChannels, int outChannels)
    {
        var conv = Conv2d(inChannels, outChannels, 3, padding: 1);
        init.normal_(conv.weight, std: 0.01);
        init.zeros_(conv.bias!);
        return conv;
    }

    /// <summary>
    /// Builds the detector for <paramref name="body"/>, finding the layers that end its last three
    /// resolutions by running a probe image through it (in inference mode).
    /// </summary>
    public static FcosDetector Create(Sequential body, int classes, DetectorOptions? options = null, int probeSize = 128)
    {
        options ??= DetectorOptions.Default;
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), "a detector needs at least one class");
        if (options.Channels % 32 != 0 || options.Channels < 32) throw new ArgumentOutOfRangeException(nameof(options), "the channels must be a multiple of 32 (GroupNorm's groups)");
        var shapes = BodyProbe.Shapes(body, UnetDecoder.EncoderLayers(body), probeSize);
        // The last layer at each resolution: its output is that stage's richest feature map.
        int[] ends = Enumerable.Range(0, shapes.Count).Where(i => i == shapes.Count - 1 || shapes[i][^1] != shapes[i + 1][^1]).ToArray();
        if (ends.Length < 3) throw new LumenException("the body has fewer than three resolutions, too few for a feature pyramid");
        int[] chosen = ends[^3..];
        int[] strides = chosen.Select(i => (int)Math.Round((double)probeSize / shapes[i][^1])).ToArray();
        return new FcosDetector(chosen, chosen.Select(i => (int)shapes[i][1]).ToArray(), strides, classes, options);
    }

    /// <summary>Runs <paramref name="layers"/> on <paramref name="input"/>, keeping the outputs of <see cref="FeatureLayers"/>.</summary>
    internal List<Tensor> Encode(IReadOnlyList<Module<Tensor, Tensor>> layers, Tensor input)
    {
        var features = new List<Tensor>();
        Tensor x = input;
        for (int i = 0; i <= _featureLayers[^1]; i++)
        {
            x = layers[i].forward(x);
            if (_featureLayers.Contains(i)) features.Add(x);
        }
        return features;
    }

    /// <summary>The pyramid and the head on the body's features (finest first): N×L×(C+8) rows, level by level, row-major within a level.</summary>
    public Tensor Decode(Tensor input, IReadOnlyList<Tensor> features)
    {
        using var scope = NewDisposeScope();
        var levels = new Tensor[features.Count + 2];
        Tensor top = lateral[features.Count - 1].forward(features[^1]);
        levels[features.Count - 1] = smooth[features.Count - 1].forward(top);
        for (int i = features.Count - 2; i >= 0; i--)
        {
            Tensor lat = lateral[i].forward(features[i]);
            top = lat.add_(F.interpolate(top, new[] { lat.shape[2], lat.shape[3] }, mode: InterpolationMode.Nearest), Scalars.One);
            levels[i] = smooth[i].forward(top);
        }
        levels[^2] = p6.forward(levels[features.Count - 1]);
        levels[^1] = p7.forward(F.relu(levels[^2]));
        var rows = new List<Tensor>();
        for (int k = 0; k < levels.Length; k++)
        {
            Tensor level = levels[k];
            long n = level.shape[0], h = level.shape[2], w = level.shape[3];
            Tensor cls = cls_tower.forward(level), box = box_tower.forward(level);
            Tensor head = cat(new[] { cls_logits.forward(cls), F.relu(box_distances.forward(box)), centerness.forward(box) }, 1);
            rows.Add(cat(new[] { head.flatten(2).transpose(1, 2), Locations(n, h, w, _strides[k], input.device) }, 2));
        }
        return cat(rows, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Each location's x, y (the centre of its cell in input pixels, as the FCOS paper places it) and
    /// stride, N×(h·w)×3.
    /// </summary>
    private static Tensor Locations(long n, long h, long w, int stride, Device device)
    {
        using var scope = NewDisposeScope();
        var values = new float[h * w * 3];
        for (long y = 0; y < h; y++)
            for (long x = 0; x < w; x++)
            {
                long k = (y * w + x) * 3;
                values[k] = (float)((x + 0.5) * stride);
                values[k + 1] = (float)((y + 0.5) * stride);
                values[k + 2] = stride;
            }
        return tensor(values, new[] { 1, h * w, 3 }, ScalarType.Float32, device).expand(n, h * w, 3).MoveToOuterDisposeScope();
    }
}
