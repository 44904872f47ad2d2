using Lumen.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Lumen.Models;

/// <summary>Settings of the U-Net decoder put on a pretrained body (fastai's <c>unet_learner</c>/<c>DynamicUnet</c>).</summary>
public sealed record UnetOptions
{
    /// <summary>
    /// Join the input image to the last features and refine them with a residual block before the
    /// output convolution (fastai's <c>last_cross</c>, on by default).
    /// </summary>
    public bool LastCross { get; init; } = true;

    /// <summary>Halve the channels of that residual block (fastai's <c>bottle</c>): cheaper at full resolution.</summary>
    public bool Bottle { get; init; }

    /// <summary>fastai's defaults.</summary>
    public static UnetOptions Default { get; } = new();
}

/// <summary>
/// fastai's DynamicUnet decoder on any body: the body's layers run in order and the output of every
/// layer after which the spatial size changes is kept as a skip connection; from the body's output a
/// middle block (BatchNorm, ReLU, conv to twice the channels and back) and, per skip from the deepest,
/// a block that upsamples ×2 by pixel shuffle (ICNR-initialised, so it starts as nearest-neighbour
/// upsampling), concatenates the normalised skip and applies two 3×3 convolutions; then a last pixel
/// shuffle to the input's size, the input concatenated (<see cref="UnetOptions.LastCross"/>) with a
/// residual block, and a 1×1 convolution to the classes.
/// </summary>
public sealed class UnetDecoder : nn.Module
{
    private readonly Sequential middle;
    private readonly ModuleList<UnetBlock> blocks;
    private readonly PixelShuffleIcnr? final_shuffle;
    private readonly ResidualBlock? cross;
    private readonly Sequential output;
    private readonly int[] _skipLayers;

    private UnetDecoder(int[] skipLayers, Sequential middle, ModuleList<UnetBlock> blocks, PixelShuffleIcnr? finalShuffle, ResidualBlock? cross, Sequential output)
        : base(nameof(UnetDecoder))
    {
        _skipLayers = skipLayers;
        this.middle = middle;
        this.blocks = blocks;
        final_shuffle = finalShuffle;
        this.cross = cross;
        this.output = output;
        RegisterComponents();
    }

    internal Sequential Middle => middle;

    internal ModuleList<UnetBlock> Blocks => blocks;

    internal PixelShuffleIcnr? FinalShuffle => final_shuffle;

    internal ResidualBlock? Cross => cross;

    internal Sequential Output => output;

    /// <summary>Indices (into <see cref="EncoderLayers"/>) of the layers whose outputs are the skip connections, shallowest first.</summary>
    public IReadOnlyList<int> SkipLayers => _skipLayers;

    /// <summary>
    /// The body's layers in running order: its children, or, for a body that wraps one feature
    /// extractor (MobileNet, VGG), that extractor's children.
    /// </summary>
    public static IReadOnlyList<Module<Tensor, Tensor>> EncoderLayers(Sequential body)
    {
        var children = body.children().ToList();
        if (children.Count == 1 && children[0] is Sequential inner) children = inner.children().ToList();
        return children.Cast<Module<Tensor, Tensor>>().ToList();
    }

    /// <summary>
    /// Builds the decoder for <paramref name="body"/>, finding its skip layers by running a
    /// <paramref name="probeSize"/>-pixel image through it (in inference mode, so BatchNorm statistics
    /// are untouched).
    /// </summary>
    public static UnetDecoder Create(Sequential body, int classes, UnetOptions? options = null, int probeSize = 128)
    {
        options ??= UnetOptions.Default;
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), "a segmentation needs at least 2 classes");
        var shapes = BodyProbe.Shapes(body, EncoderLayers(body), probeSize);
        // fastai's _get_sz_change_idxs: a layer is a skip when the next one changes the size.
        int[] skips = Enumerable.Range(0, shapes.Count - 1).Where(i => shapes[i][^1] != shapes[i + 1][^1]).ToArray();
        if (skips.Length == 0) throw new LumenException("the body never changes the image's size, so it has no skip connections for a U-Net");
        int channels = (int)shapes[^1][1];
        var middle = Sequential(
            ("bn", BatchNormLayer.TwoDimensional(channels)),
            ("relu", ReLU()),
            ("conv1", ConvLayer.Create(channels, channels * 2)),
            ("conv2", ConvLayer.Create(channels * 2, channels)));
        var blocks = new ModuleList<UnetBlock>();
        int upChannels = channels;
        for (int i = skips.Length - 1; i >= 0; i--)
        {
            var block = new UnetBlock(upChannels, (int)shapes[skips[i]][1], finalDivide: i != 0);
            blocks.Add(block);
            upChannels = block.OutChannels;
        }
        // The shallowest skip is smaller than the input (a stride-2 stem): one more ×2 upsampling.
        PixelShuffleIcnr? finalShuffle = shapes[skips[0]][^1] != probeSize ? new PixelShuffleIcnr(upChannels, upChannels) : null;
        ResidualBlock? cross = null;
        int last = upChannels;
        if (options.LastCross)
        {
            last += 3;
            cross = new ResidualBlock(last, options.Bottle ? last / 2 : last);
        }
        var output = ConvLayer.Create(last, classes, kernel: 1, relu: false);
        return new UnetDecoder(skips, middle, blocks, finalShuffle, cross, output);
    }

    /// <summary>
    /// Per-pixel logits N×classes×H×W for <paramref name="input"/> (N×3×H×W), given the outputs of the
    /// skip layers (shallowest first) and the body's output.
    /// </summary>
    public Tensor Decode(Tensor input, IReadOnlyList<Tensor> skips, Tensor encoded)
    {
        using var scope = NewDisposeScope();
        Tensor x = middle.forward(encoded);
        for (int i = 0; i < blocks.Count; i++) x = blocks[i].forward(x, skips[skips.Count - 1 - i]);
        if (final_shuffle is not null) x = final_shuffle.forward(x);
        if (x.shape[2] != input.shape[2] || x.shape[3] != input.shape[3])
            x = F.interpolate(x, new[] { input.shape[2], input.shape[3] }, mode: InterpolationMode.Nearest);
        if (cross is not null) x = cross.forward(cat(new[] { x, input }, 1));
        return output.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>Runs <paramref name="layers"/> on <paramref name="input"/>, keeping the outputs of <see cref="SkipLayers"/>.</summary>
    internal (List<Tensor> Skips, Tensor Encoded) Encode(IReadOnlyList<Module<Tensor, Tensor>> layers, Tensor input)
    {
        var skips = new List<Tensor>();
        Tensor x = input;
        int next = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            x = layers[i].forward(x);
            if (next < _skipLayers.Length && _skipLayers[next] == i)
            {
                skips.Add(x);
                next++;
            }
        }
        return (skips, x);
    }
}

/// <summary>fastai's ConvLayer: convolution (no bias), BatchNorm, optional ReLU; Kaiming-normal weights.</summary>
internal static class ConvLayer
{
    public static Sequential Create(int inChannels, int outChannels, int kernel = 3, bool relu = true, bool zeroBatchNorm = false)
    {
        var conv = Conv2d(inChannels, outChannels, kernel_size: kernel, padding: kernel / 2, bias: false);
        init.kaiming_normal_(conv.weight);
        var bn = BatchNormLayer.TwoDimensional(outChannels);
        if (zeroBatchNorm)
            using (no_grad()) bn.weight!.zero_();
        var layers = new List<(string, Module<Tensor, Tensor>)> { ("conv", conv), ("bn", bn) };
        if (relu) layers.Add(("relu", ReLU()));
        return Sequential(layers);
    }
}

/// <summary>
/// fastai's PixelShuffle_ICNR: a 1×1 ConvLayer to 4× the channels, then pixel shuffle (×2). ICNR
/// initialisation gives the four sub-pixels of each output channel the same filter, so the layer
/// starts as nearest-neighbour upsampling and avoids checkerboard artefacts.
/// </summary>
internal sealed class PixelShuffleIcnr : Module<Tensor, Tensor>
{
    private readonly Sequential conv;

    internal Sequential Conv => conv;

    public PixelShuffleIcnr(int inChannels, int outChannels) : base(nameof(PixelShuffleIcnr))
    {
        conv = ConvLayer.Create(inChannels, outChannels * 4, kernel: 1);
        var weight = ((Conv2d)conv.children().First()).weight!;
        using (no_grad())
        {
            using var base_ = empty(outChannels, inChannels, 1, 1);
            init.kaiming_normal_(base_);
            // Pixel shuffle makes output channel c from input channels 4c .. 4c+3.
            using var repeated = base_.repeat_interleave(4, 0);
            weight.copy_(repeated);
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return F.pixel_shuffle(conv.forward(x), 2).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// fastai's UnetBlock: upsample the deeper features ×2 (pixel shuffle, to half their channels), resize
/// to the skip if needed, concatenate with the BatchNorm-ed skip, ReLU, two 3×3 ConvLayers.
/// </summary>
internal sealed class UnetBlock : nn.Module
{
    private readonly PixelShuffleIcnr shuf;
    private readonly BatchNormLayer bn;
    private readonly Sequential conv1;
    private readonly Sequential conv2;

    public UnetBlock(int upChannels, int skipChannels, bool finalDivide) : base(nameof(UnetBlock))
    {
        int joined = upChannels / 2 + skipChannels;
        OutChannels = finalDivide ? joined : joined / 2;
        shuf = new PixelShuffleIcnr(upChannels, upChannels / 2);
        bn = BatchNormLayer.TwoDimensional(skipChannels);
        conv1 = ConvLayer.Create(joined, OutChannels);
        conv2 = ConvLayer.Create(OutChannels, OutChannels);
        RegisterComponents();
    }

    public int OutChannels { get; }

    internal PixelShuffleIcnr Shuffle => shuf;

    internal BatchNormLayer SkipNorm => bn;

    internal Sequential Conv1 => conv1;

    internal Sequential Conv2 => conv2;

    public Tensor forward(Tensor up, Tensor skip)
    {
        using var scope = NewDisposeScope();
        Tensor x = shuf.forward(up);
        if (x.shape[2] != skip.shape[2] || x.shape[3] != skip.shape[3])
            x = F.interpolate(x, new[] { skip.shape[2], skip.shape[3] }, mode: InterpolationMode.Nearest);
        Tensor joined = F.relu(cat(new[] { x, bn.forward(skip) }, 1));
        return conv2.forward(conv1.forward(joined)).MoveToOuterDisposeScope();
    }
}

/// <summary>fastai's ResBlock with expansion 1 and equal channels: ReLU(x + ConvLayer(ConvLayer(x))), the second BatchNorm starting at zero.</summary>
internal sealed class ResidualBlock : Module<Tensor, Tensor>
{
    private readonly Sequential conv1;
    private readonly Sequential conv2;

    internal Sequential Conv1 => conv1;

    internal Sequential Conv2 => conv2;

    public ResidualBlock(int channels, int hidden) : base(nameof(ResidualBlock))
    {
        conv1 = ConvLayer.Create(channels, hidden);
        conv2 = ConvLayer.Create(hidden, channels, relu: false, zeroBatchNorm: true);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return F.relu(conv2.forward(conv1.forward(x)).add_(x, Scalars.One)).MoveToOuterDisposeScope();
    }
}
