using Lumen.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lumen.Models;

/// <summary>
/// The ResNet family (ResNet-18…152, ResNeXt, Wide ResNet) as bodies for transfer learning, with
/// torchvision's module and parameter names (conv1, bn1, layer1.0.conv1, …, layer2.0.downsample.0),
/// so torchvision state dicts load by name. Lumen builds these itself rather than through
/// TorchVision's ResNet because (a) the ML.NET ImageNet ResNet-18 has a [2,2,2,3] block layout
/// TorchVision cannot build, and (b) the strided 1×1 downsample convolution is computed as a
/// subsample followed by a stride-1 1×1 convolution, which is mathematically identical and avoids
/// a oneDNN crash (SIGFPE in the strided 1×1 backward kernel) on VMs that report no CPU cache sizes.
/// </summary>
public static class ResNet
{
    /// <summary>Builds the body: stem (conv1, bn1, relu, maxpool) and layer1..layer4, without pooling or fc.</summary>
    /// <param name="bottleneck">True for Bottleneck blocks (ResNet-50 and deeper), false for BasicBlock.</param>
    /// <param name="layout">Blocks per stage, e.g. [2,2,2,2] for ResNet-18.</param>
    /// <param name="groups">Convolution groups in bottlenecks (ResNeXt).</param>
    /// <param name="widthPerGroup">Bottleneck width per group (64 normally, 128 for Wide ResNet).</param>
    public static Sequential Body(bool bottleneck, IReadOnlyList<int> layout, int groups = 1, int widthPerGroup = 64)
    {
        if (layout.Count != 4 || layout.Any(n => n < 1)) throw new ArgumentException("a ResNet layout has 4 stages of at least one block", nameof(layout));
        int expansion = bottleneck ? 4 : 1;
        int inPlanes = 64;
        var modules = new List<(string, Module<Tensor, Tensor>)>
        {
            ("conv1", Conv2d(3, 64, kernel_size: 7, stride: 2, padding: 3, bias: false)),
            ("bn1", BatchNormLayer.TwoDimensional(64)),
            ("relu", ReLU(inplace: true)),
            ("maxpool", MaxPool2d(kernel_size: 3, stride: 2, padding: 1)),
        };
        int[] planes = { 64, 128, 256, 512 };
        for (int stage = 0; stage < 4; stage++)
        {
            var blocks = new List<(string, Module<Tensor, Tensor>)>();
            for (int b = 0; b < layout[stage]; b++)
            {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                Module<Tensor, Tensor>? downsample = null;
                if (stride != 1 || inPlanes != planes[stage] * expansion)
                    downsample = Sequential(("0", new PointwiseConv(inPlanes, planes[stage] * expansion, stride)), ("1", BatchNormLayer.TwoDimensional(planes[stage] * expansion)));
                blocks.Add((b.ToString(), bottleneck
                    ? new Bottleneck(inPlanes, planes[stage], stride, downsample, groups, widthPerGroup)
                    : new BasicBlock(inPlanes, planes[stage], stride, downsample)));
                inPlanes = planes[stage] * expansion;
            }
            modules.Add(($"layer{stage + 1}", Sequential(blocks)));
        }
        var body = Sequential(modules);
        InitLikeTorchvision(body);
        return body;
    }

    /// <summary>torchvision's initialisation: Kaiming-normal (fan_out, ReLU) convolutions, BatchNorm weight 1, bias 0.</summary>
    private static void InitLikeTorchvision(Module module)
    {
        using var noGrad = no_grad();
        foreach (var (_, m) in module.named_modules())
        {
            switch (m)
            {
                case Conv2d conv:
                    init.kaiming_normal_(conv.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
                    break;
                case PointwiseConv pw:
                    init.kaiming_normal_(pw.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
                    break;
                case BatchNormLayer bn:
                    init.ones_(bn.weight);
                    init.zeros_(bn.bias);
                    break;
            }
        }
    }

    /// <summary>Two 3×3 convolutions with a residual connection (ResNet-18/34).</summary>
    internal sealed class BasicBlock : Module<Tensor, Tensor>
    {
        // Internal for the ONNX exporter; the field names are torchvision's parameter names.
        internal readonly int _stride;
        internal readonly Conv2d conv1, conv2;
        internal readonly BatchNormLayer bn1, bn2;
        internal readonly Module<Tensor, Tensor>? downsample;

        public BasicBlock(int inPlanes, int planes, int stride, Module<Tensor, Tensor>? downsample) : base(nameof(BasicBlock))
        {
            conv1 = Conv2d(inPlanes, planes, kernel_size: 3, stride: stride, padding: 1, bias: false);
            bn1 = BatchNormLayer.TwoDimensional(planes);
            conv2 = Conv2d(planes, planes, kernel_size: 3, stride: 1, padding: 1, bias: false);
            bn2 = BatchNormLayer.TwoDimensional(planes);
            this.downsample = downsample;
            _stride = stride;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            Tensor y = functional.relu(bn1.forward(conv1.forward(x)));
            y = bn2.forward(conv2.forward(y));
            y = y.add_(downsample is null ? x : downsample.forward(x), Scalars.One);
            return functional.relu(y).MoveToOuterDisposeScope();
        }
    }

    /// <summary>1×1 → 3×3 (strided, grouped) → 1×1 with a residual connection (ResNet-50 and deeper).</summary>
    internal sealed class Bottleneck : Module<Tensor, Tensor>
    {
        // Internal for the ONNX exporter; the field names are torchvision's parameter names.
        internal readonly int _stride, _groups;
        internal readonly Conv2d conv1, conv2, conv3;
        internal readonly BatchNormLayer bn1, bn2, bn3;
        internal readonly Module<Tensor, Tensor>? downsample;

        public Bottleneck(int inPlanes, int planes, int stride, Module<Tensor, Tensor>? downsample, int groups, int widthPerGroup) : base(nameof(Bottleneck))
        {
            int width = planes * widthPerGroup / 64 * groups;
            conv1 = Conv2d(inPlanes, width, kernel_size: 1, bias: false);
            bn1 = BatchNormLayer.TwoDimensional(width);
            conv2 = Conv2d(width, width, kernel_size: 3, stride: stride, padding: 1, groups: groups, bias: false);
            bn2 = BatchNormLayer.TwoDimensional(width);
            conv3 = Conv2d(width, planes * 4, kernel_size: 1, bias: false);
            bn3 = BatchNormLayer.TwoDimensional(planes * 4);
            this.downsample = downsample;
            _stride = stride;
            _groups = groups;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            Tensor y = functional.relu(bn1.forward(conv1.forward(x)));
            y = functional.relu(bn2.forward(conv2.forward(y)));
            y = bn3.forward(conv3.forward(y));
            y = y.add_(downsample is null ? x : downsample.forward(x), Scalars.One);
            return functional.relu(y).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// A bias-free 1×1 convolution with stride s, computed as "take every s-th pixel, then a stride-1
    /// 1×1 convolution": the same function and the same parameter ("weight", [out, in, 1, 1]) as
    /// torchvision's strided downsample conv, but its backward avoids oneDNN's strided 1×1 kernel.
    /// </summary>
    internal sealed class PointwiseConv : Module<Tensor, Tensor>
    {
        internal readonly Parameter weight;
        private readonly int _stride;

        public PointwiseConv(int inChannels, int outChannels, int stride) : base(nameof(PointwiseConv))
        {
            weight = new Parameter(empty(outChannels, inChannels, 1, 1));
            _stride = stride;
            RegisterComponents();
        }

        public int Stride => _stride;

        public override Tensor forward(Tensor x)
        {
            if (_stride == 1) return functional.conv2d(x, weight);
            using var scope = NewDisposeScope();
            Tensor sub = x[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(null, null, _stride), TensorIndex.Slice(null, null, _stride)];
            return functional.conv2d(sub, weight).MoveToOuterDisposeScope();
        }
    }
}
