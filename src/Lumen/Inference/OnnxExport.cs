using Lumen.Imaging;
using System.Text.Json;
using Google.Protobuf;
using Lumen.Models;
using Lumen.Tensors;
using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Lumen.Files;

namespace Lumen.Inference;

/// <summary>
/// Exports a trained model to a standard ONNX graph (opset 13), written with a protobuf package
/// (OnnxSharp's generated ONNX messages): input <c>input</c> N×3×size×size float (dynamic batch,
/// already normalised as the metadata describes), outputs <c>logits</c> and <c>probabilities</c>
/// (softmax, or sigmoid for multi-label). The preprocessing, classes and task are stored in the
/// model's metadata_props. Supported: the ResNet family (ResNet, ResNeXt, Wide ResNet) with Lumen's
/// heads.
/// </summary>
public static class OnnxExport
{
    /// <summary>The opset written.</summary>
    public const int Opset = 13;

    /// <summary>Writes <paramref name="loaded"/> as ONNX to <paramref name="path"/> (atomically).</summary>
    /// <exception cref="LumenException">The architecture is not supported.</exception>
    public static void Write(LoadedModel loaded, string path)
    {
        var onnx = Build(loaded.Model, loaded.Info);
        AtomicFile.Write(path, stream => onnx.WriteTo(stream));
    }

    /// <summary>True when <paramref name="model"/>'s architecture can be written as ONNX.</summary>
    public static bool Supports(VisionModel model) => model.Architecture.Family is "resnet" or "resnext" or "wide_resnet";

    /// <summary>The serialized ONNX graph of <paramref name="model"/> (what <see cref="Write"/> writes), for an in-memory session.</summary>
    /// <exception cref="LumenException">The architecture is not supported.</exception>
    public static byte[] ToBytes(VisionModel model, ModelInfo info) => Build(model, info).ToByteArray();

    /// <summary>
    /// The int8 graph of <paramref name="model"/> in ONNX's QDQ form, which ONNX Runtime runs with integer
    /// convolutions (VNNI where the CPU has it): every convolution, with its BatchNorm folded in, gets
    /// per-channel symmetric int8 weights, an int32 bias, and uint8 input and output activations whose
    /// ranges come from <paramref name="calibration"/>. The pooling and the head stay float.
    /// </summary>
    /// <exception cref="LumenException">The architecture is not supported, or the calibration is for another network.</exception>
    public static byte[] ToInt8Bytes(VisionModel model, ModelInfo info, Int8Calibration calibration) =>
        Build(model, info, new OnnxGraphBuilder { Form = ConvForm.Int8, Ranges = calibration.Convs }).ToByteArray();

    /// <summary>
    /// The float graph with BatchNorm folded into the convolutions (what the int8 graph quantizes), and
    /// the names of each convolution's input and output tensor, in order, for calibration.
    /// </summary>
    internal static (byte[] Graph, IReadOnlyList<(string Input, string Output)> Convs) ToCalibrationBytes(VisionModel model, ModelInfo info)
    {
        var g = new OnnxGraphBuilder { Form = ConvForm.Folded };
        var proto = Build(model, info, g);
        // Expose the intermediate tensors as outputs so that one run yields all their ranges.
        foreach (string name in g.ConvTensors.SelectMany(c => new[] { c.Input, c.Output }).Distinct().Where(n => n != "input"))
            proto.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } });
        return (proto.ToByteArray(), g.ConvTensors);
    }

    private static ModelProto Build(VisionModel model, ModelInfo info, OnnxGraphBuilder? builder = null)
    {
        if (!Supports(model))
            throw new LumenException($"ONNX export supports the ResNet family (resnet*, resnext*, wide_resnet*), not {model.Architecture.Name}");
        model.eval();
        var g = builder ?? new OnnxGraphBuilder();
        string x = "input";
        var body = model.Body.named_children().ToList();
        if (model.Detector is not null && g.Form != ConvForm.Float)
            throw new LumenException("a detector's graph is exported in float32 only (its heads have no int8 calibration)");
        var skipLayers = (model.Decoder?.SkipLayers ?? model.Detector?.FeatureLayers ?? Array.Empty<int>()).ToHashSet();
        var skips = new List<string>();
        for (int i = 0; i < body.Count; i++)
        {
            var (name, module) = body[i];
            x = module switch
            {
                // The stem: a 7×7 convolution and its BatchNorm.
                Conv2d conv when i + 1 < body.Count && body[i + 1].module is BatchNormLayer { Spatial: true } bn => g.ConvBn(conv.weight, bn, x, kernel: 7, stride: 2, pad: 3, groups: 1, ref i),
                ReLU => g.Node("Relu", x),
                MaxPool2d => g.Node("MaxPool", new[] { x }, OnnxGraphBuilder.Ints("kernel_shape", 3, 3), OnnxGraphBuilder.Ints("strides", 2, 2), OnnxGraphBuilder.Ints("pads", 1, 1, 1, 1)),
                Sequential stage => stage.named_children().Aggregate(x, (input, block) => Block(g, block.module, input)),
                _ => throw new LumenException($"ONNX export: unsupported body layer '{name}' ({module.GetType().Name})"),
            };
            if (skipLayers.Contains(i)) skips.Add(x);
        }
        if (model.Decoder is { } decoder) return Finish(g, Unet(g, decoder, "input", skips, x), info);
        if (model.Detector is { } detector) return Finish(g, Fcos(g, detector, skips), info);
        foreach (var (name, module) in model.Head.named_children())
        {
            x = module switch
            {
                AdaptiveConcatPool2d => g.Node("Concat", new[] { g.Node("GlobalMaxPool", x), g.Node("GlobalAveragePool", x) }, OnnxGraphBuilder.Int("axis", 1)),
                AdaptiveAvgPool2d => g.Node("GlobalAveragePool", x),
                Flatten => g.Node("Flatten", new[] { x }, OnnxGraphBuilder.Int("axis", 1)),
                BatchNormLayer { Spatial: false } bn => g.FoldedBatchNorm1d(bn, x),
                Dropout => x,
                ReLU => g.Node("Relu", x),
                Linear linear => g.Gemm(linear, x),
                _ => throw new LumenException($"ONNX export: unsupported head layer '{name}' ({module.GetType().Name})"),
            };
        }
        return Finish(g, x, info);
    }

    /// <summary>
    /// The logits and probabilities outputs, the graph's inputs and outputs (a per-pixel model takes any
    /// height and width), and the model's metadata.
    /// </summary>
    private static ModelProto Finish(OnnxGraphBuilder g, string x, ModelInfo info)
    {
        bool perPixel = info.Task.PerPixel, perBox = info.Task.PerBox;
        int size = info.Preprocessing.Size, classes = info.Classes.Count;
        g.Node("Identity", new[] { x }, "logits");
        if (perBox)
        {
            // Rows of C class logits, 4 distances, the centre-ness logit, x, y, stride: the scores through a sigmoid, the rest as they are.
            string Columns(long from, long to) => g.Node("Slice", new[] { x, g.Int64Initializer("starts", from), g.Int64Initializer("ends", to), g.Int64Initializer("axes", 2) });
            g.Node("Concat", new[]
            {
                g.Node("Sigmoid", Columns(0, classes)), Columns(classes, classes + 4), g.Node("Sigmoid", Columns(classes + 4, classes + 5)), Columns(classes + 5, classes + 8),
            }, "probabilities", OnnxGraphBuilder.Int("axis", 2));
        }
        else
        {
            // The classes are axis 1 (N×C, or N×C×H×W per pixel); Softmax's default is the last axis (opset 13).
            string activation = info.Task.OnnxActivation;
            g.Node(activation, new[] { x }, "probabilities", activation == "Softmax" ? new[] { OnnxGraphBuilder.Int("axis", 1) } : Array.Empty<AttributeProto>());
        }

        g.Graph.Name = $"lumen_{info.Spec.Architecture}";
        g.Graph.Input.Add(OnnxGraphBuilder.Value("input", perPixel || perBox ? new object[] { "batch", 3, "height", "width" } : new object[] { "batch", 3, size, size }));
        object[] outputDims = perBox ? new object[] { "batch", "locations", classes + Models.FcosDetector.ExtraColumns }
            : perPixel ? new object[] { "batch", classes, "height", "width" } : new object[] { "batch", classes };
        g.Graph.Output.Add(OnnxGraphBuilder.Value("logits", outputDims));
        g.Graph.Output.Add(OnnxGraphBuilder.Value("probabilities", outputDims));
        var onnx = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "Lumen",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString(3) ?? "0",
            Graph = g.Graph,
            DocString = (perBox ? "Lumen detector (outputs N×L×(C+8): per location C class logits, 4 distances to the box's sides in strides, a centre-ness logit, x, y, stride)"
                : perPixel ? "Lumen segmentation model (outputs N×C×H×W per pixel)" : "Lumen image classifier") + ". Input: RGB image resized as 'preprocessing' says, as N×3×H×W float, normalised: "
                        + "x = (pixel/255 · scale [channels reversed if bgr] − mean) / std.",
        };
        onnx.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        var p = info.Preprocessing;
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["classes"] = JsonSerializer.Serialize(info.Classes),
            ["task"] = info.Task.Name,
            ["threshold"] = info.Threshold.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["architecture"] = info.Spec.Architecture,
            ["preprocessing"] = JsonSerializer.Serialize(new
            {
                size = p.Size, resize = p.ResizeMethod.ToString().ToLowerInvariant(), pad = p.PadMode.ToString().ToLowerInvariant(),
                scale = p.Normalization.Scale, bgr = p.Normalization.Bgr, mean = p.Normalization.Mean, std = p.Normalization.Std,
            }),
        })
            onnx.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return onnx;
    }

    /// <summary>
    /// The U-Net decoder's nodes (see <see cref="UnetDecoder"/>) from the body's output
    /// <paramref name="encoded"/> and the skip outputs (shallowest first); returns the logits' name.
    /// Every resize to a skip's or the input's size is a Resize node reading that size from the graph
    /// (nearest, as F.interpolate), a no-op when the sizes already agree.
    /// </summary>
    private static string Unet(OnnxGraphBuilder g, UnetDecoder decoder, string input, IReadOnlyList<string> skips, string encoded)
    {
        var middle = decoder.Middle.children().ToList();
        string x = g.Node("Relu", g.BatchNorm((BatchNormLayer)middle[0], encoded));
        x = ConvLayer(g, (Sequential)middle[2], x);
        x = ConvLayer(g, (Sequential)middle[3], x);
        for (int i = 0; i < decoder.Blocks.Count; i++)
        {
            var block = decoder.Blocks[i];
            string skip = skips[skips.Count - 1 - i];
            string up = g.ResizeLike(Shuffle(g, block.Shuffle, x), skip);
            x = g.Node("Relu", g.Node("Concat", new[] { up, g.BatchNorm(block.SkipNorm, skip) }, OnnxGraphBuilder.Int("axis", 1)));
            x = ConvLayer(g, block.Conv2, ConvLayer(g, block.Conv1, x));
        }
        if (decoder.FinalShuffle is { } final) x = Shuffle(g, final, x);
        x = g.ResizeLike(x, input);
        if (decoder.Cross is { } cross)
        {
            x = g.Node("Concat", new[] { x, input }, OnnxGraphBuilder.Int("axis", 1));
            x = g.Node("Relu", g.Node("Add", new[] { ConvLayer(g, cross.Conv2, ConvLayer(g, cross.Conv1, x)), x }));
        }
        return ConvLayer(g, decoder.Output, x);
    }

    /// <summary>
    /// The detector's nodes (see <see cref="FcosDetector"/>) from the body's feature maps (finest first):
    /// the pyramid, the shared head on each level, each level's rows joined with its locations (computed
    /// in the graph from the level's height and width, so any input size works); returns the rows' name.
    /// </summary>
    private static string Fcos(OnnxGraphBuilder g, FcosDetector detector, IReadOnlyList<string> features)
    {
        int n = features.Count;
        var levels = new string[n + 2];
        string top = Conv(g, detector.Lateral[n - 1], features[n - 1]);
        levels[n - 1] = Conv(g, detector.Smooth[n - 1], top);
        for (int i = n - 2; i >= 0; i--)
        {
            string lateral = Conv(g, detector.Lateral[i], features[i]);
            top = g.Node("Add", new[] { lateral, g.ResizeLike(top, lateral) });
            levels[i] = Conv(g, detector.Smooth[i], top);
        }
        levels[n] = Conv(g, detector.P6, levels[n - 1]);
        levels[n + 1] = Conv(g, detector.P7, g.Node("Relu", levels[n]));
        var rows = new List<string>();
        for (int k = 0; k < levels.Length; k++)
        {
            string cls = Tower(g, detector.ClassTower, levels[k]), box = Tower(g, detector.BoxTower, levels[k]);
            string head = g.Node("Concat", new[] { Conv(g, detector.ClassLogits, cls), g.Node("Relu", Conv(g, detector.BoxDistances, box)), Conv(g, detector.Centerness, box) },
                OnnxGraphBuilder.Int("axis", 1));
            // N×K×h×w → N×(h·w)×K, then the locations beside.
            string flat = g.Node("Transpose", new[] { g.Node("Reshape", new[] { head, g.Int64Initializer("shape", 0, 0, -1) }) }, OnnxGraphBuilder.Ints("perm", 0, 2, 1));
            rows.Add(g.Node("Concat", new[] { flat, Locations(g, levels[k], detector.Strides[k]) }, OnnxGraphBuilder.Int("axis", 2)));
        }
        return g.Node("Concat", rows.ToArray(), OnnxGraphBuilder.Int("axis", 1));
    }

    /// <summary>A convolution with its bias, its kernel, stride and padding as the module has them.</summary>
    private static string Conv(OnnxGraphBuilder g, Conv2d conv, string input)
    {
        int kernel = (int)conv.weight!.shape[2];
        return g.Conv(conv.weight, conv.bias, input, kernel, (int)conv.stride[0], kernel / 2, 1);
    }

    /// <summary>A head tower: (convolution, GroupNorm, ReLU) repeated.</summary>
    private static string Tower(OnnxGraphBuilder g, Sequential tower, string input)
    {
        string x = input;
        foreach (var layer in tower.children())
            x = layer switch
            {
                Conv2d conv => Conv(g, conv, x),
                GroupNorm norm => g.GroupNorm(norm, x),
                ReLU => g.Node("Relu", x),
                _ => throw new LumenException($"ONNX export: unsupported head layer {layer.GetType().Name}"),
            };
        return x;
    }

    /// <summary>A level's locations, N×(h·w)×3: x, y (the cell centres, (i + ½)·stride) and the stride, from the level's own shape.</summary>
    private static string Locations(OnnxGraphBuilder g, string level, int stride)
    {
        string shape = g.Node("Shape", level);
        string Dim(long axis) => g.Node("Gather", new[] { shape, g.Int64Scalar(axis) });  // a scalar index: a scalar, as Range needs
        string h = Dim(2), w = Dim(3);
        string Centres(string count)
        {
            string range = g.Node("Cast", new[] { g.Node("Range", new[] { g.Int64Scalar(0), count, g.Int64Scalar(1) }) }, OnnxGraphBuilder.Int("to", (int)TensorProto.Types.DataType.Float));
            return g.Node("Mul", new[] { g.Node("Add", new[] { range, g.FloatScalar(0.5f) }), g.FloatScalar(stride) });
        }
        string hw = g.Node("Concat", new[] { g.Unsqueeze(h), g.Unsqueeze(w) }, OnnxGraphBuilder.Int("axis", 0));
        // x varies along the columns, y along the rows; both h×w, then one h×w×3 grid with the stride.
        string xs = g.Node("Expand", new[] { g.Node("Reshape", new[] { Centres(w), g.Int64Initializer("shape", 1, -1) }), hw });
        string ys = g.Node("Expand", new[] { g.Node("Reshape", new[] { Centres(h), g.Int64Initializer("shape", -1, 1) }), hw });
        string ss = g.Node("Expand", new[] { g.FloatScalar(stride), hw });
        string grid = g.Node("Concat", new[] { g.Unsqueeze(xs, -1), g.Unsqueeze(ys, -1), g.Unsqueeze(ss, -1) }, OnnxGraphBuilder.Int("axis", 2));
        string flat = g.Node("Reshape", new[] { grid, g.Int64Initializer("shape", 1, -1, 3) });
        // Expand broadcasts the leading 1 to the batch (a 1 in the target keeps a dimension as it is).
        string batchOnly = g.Node("Concat", new[] { g.Unsqueeze(Dim(0)), g.Int64Initializer("keep", 1, 1) }, OnnxGraphBuilder.Int("axis", 0));
        return g.Node("Expand", new[] { flat, batchOnly });
    }

    /// <summary>A ConvLayer (convolution, BatchNorm, optional ReLU): its kernel and padding from the weight's shape.</summary>
    private static string ConvLayer(OnnxGraphBuilder g, Sequential layer, string input)
    {
        var parts = layer.children().ToList();
        var conv = (Conv2d)parts[0];
        int kernel = (int)conv.weight!.shape[2];
        string y = g.ConvBn(conv.weight, (BatchNormLayer)parts[1], input, kernel, 1, kernel / 2, 1);
        return parts.Count > 2 ? g.Node("Relu", y) : y;
    }

    /// <summary>Pixel shuffle after its ConvLayer: PyTorch's pixel_shuffle is ONNX's DepthToSpace in CRD order.</summary>
    private static string Shuffle(OnnxGraphBuilder g, PixelShuffleIcnr shuffle, string input) =>
        g.Node("DepthToSpace", new[] { ConvLayer(g, shuffle.Conv, input) }, OnnxGraphBuilder.Int("blocksize", 2), OnnxGraphBuilder.Text("mode", "CRD"));

    /// <summary>A residual block's nodes reading <paramref name="input"/>; returns the output name.</summary>
    private static string Block(OnnxGraphBuilder g, nn.Module block, string input)
    {
        switch (block)
        {
            case Models.ResNet.BasicBlock b:
            {
                string y = g.Node("Relu", g.ConvBn(b.conv1.weight, b.bn1, input, 3, b._stride, 1, 1));
                y = g.ConvBn(b.conv2.weight, b.bn2, y, 3, 1, 1, 1);
                return g.Node("Relu", g.Node("Add", new[] { y, b.downsample is null ? input : Downsample(g, b.downsample, input) }));
            }
            case Models.ResNet.Bottleneck b:
            {
                string y = g.Node("Relu", g.ConvBn(b.conv1.weight, b.bn1, input, 1, 1, 0, 1));
                y = g.Node("Relu", g.ConvBn(b.conv2.weight, b.bn2, y, 3, b._stride, 1, b._groups));
                y = g.ConvBn(b.conv3.weight, b.bn3, y, 1, 1, 0, 1);
                return g.Node("Relu", g.Node("Add", new[] { y, b.downsample is null ? input : Downsample(g, b.downsample, input) }));
            }
            default:
                throw new LumenException($"ONNX export: unsupported block {block.GetType().Name}");
        }
    }

    /// <summary>The downsample path (strided 1×1 conv, BatchNorm) as a plain strided ONNX Conv.</summary>
    private static string Downsample(OnnxGraphBuilder g, nn.Module<Tensor, Tensor> downsample, string input)
    {
        var parts = downsample.named_children().ToDictionary(c => c.name, c => c.module);
        var conv = (Models.ResNet.PointwiseConv)parts["0"];
        return g.ConvBn(conv.weight, (BatchNormLayer)parts["1"], input, 1, conv.Stride, 0, 1);
    }
}


/// <summary>How <c>OnnxGraphBuilder.ConvBn</c> writes a convolution and its BatchNorm.</summary>
internal enum ConvForm
{
    /// <summary>Conv, then BatchNormalization (the exported file: the network as trained).</summary>
    Float,

    /// <summary>One Conv with the BatchNorm folded into its weights and bias (calibration).</summary>
    Folded,

    /// <summary>The folded Conv in QDQ int8 form.</summary>
    Int8,
}

/// <summary>Builds an ONNX graph: nodes with generated names, float initializers, value infos.</summary>
internal sealed class OnnxGraphBuilder
{
    private int _counter;

    public GraphProto Graph { get; } = new();

    public ConvForm Form { get; init; } = ConvForm.Float;

    /// <summary>Int8: each convolution's calibrated ranges, in graph order.</summary>
    public IReadOnlyList<ConvRange>? Ranges { get; init; }

    /// <summary>Each convolution's input and (pre-quantization) output tensor, in graph order.</summary>
    public List<(string Input, string Output)> ConvTensors { get; } = new();

    /// <summary>The stem's Conv followed by its BatchNorm (skips the BatchNorm's position in <paramref name="index"/>).</summary>
    public string ConvBn(Tensor weight, BatchNormLayer bn, string input, int kernel, int stride, int pad, int groups, ref int index)
    {
        index++;
        return ConvBn(weight, bn, input, kernel, stride, pad, groups);
    }

    /// <summary>A convolution followed by inference-mode BatchNorm, in this builder's <see cref="Form"/>.</summary>
    public string ConvBn(Tensor weight, BatchNormLayer bn, string input, int kernel, int stride, int pad, int groups)
    {
        if (Form == ConvForm.Float) return BatchNorm(bn, Conv(weight, null, input, kernel, stride, pad, groups));
        using var scope = NewDisposeScope();
        // BatchNorm folded: w' = w·γ/√(var+ε) per output channel, b' = β − mean·γ/√(var+ε).
        using var bnEps = 1e-5.ToScalar();
        var factor = bn.weight!.detach() / bn.running_var!.detach().add(bnEps, Scalars.One).sqrt();
        var w = weight.detach() * factor.view(-1, 1, 1, 1);
        var b = bn.bias!.detach() - bn.running_mean!.detach() * factor;
        if (Form == ConvForm.Folded)
        {
            string folded = Conv(w, b, input, kernel, stride, pad, groups);
            ConvTensors.Add((input, folded));
            return folded;
        }
        int k = ConvTensors.Count;
        if (Ranges is null || k >= Ranges.Count)
            throw new LumenException($"the int8 calibration has {Ranges?.Count ?? 0} convolutions, but this network has more; calibrate the model again");
        var range = Ranges[k];
        var (inputScale, inputZero) = Activation(range.InputMin, range.InputMax);
        string x = QuantizeDequantize(input, inputScale, inputZero);
        // Weights: symmetric int8 per output channel; bias: int32 at the scale input·weight.
        using var tiny = 1e-12.ToScalar();
        using var maxInt8 = 127.ToScalar();
        using var minInt8 = (-127).ToScalar();
        using var inputScaleScalar = inputScale.ToScalar();
        var weightScale = w.abs().amax(new long[] { 1, 2, 3 }).clamp_min(tiny).div(maxInt8);
        var quantized = (w / weightScale.view(-1, 1, 1, 1)).round().clamp(minInt8, maxInt8).to(ScalarType.Int8);
        var biasScale = weightScale.mul(inputScaleScalar);
        var bias = (b / biasScale).round().to(ScalarType.Int32);
        string wd = Node("DequantizeLinear", new[] { RawInitializer("w_q", quantized, TensorProto.Types.DataType.Int8), Initializer("w_scale", weightScale) }, Int("axis", 0));
        string bd = Node("DequantizeLinear", new[] { RawInitializer("b_q", bias, TensorProto.Types.DataType.Int32), Initializer("b_scale", biasScale) }, Int("axis", 0));
        string y = Node("Conv", new[] { x, wd, bd }, Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad), Int("group", groups));
        ConvTensors.Add((input, y));
        var (outputScale, outputZero) = Activation(range.OutputMin, range.OutputMax);
        return QuantizeDequantize(y, outputScale, outputZero);
    }

    /// <summary>Asymmetric uint8 parameters covering [min, max] (widened to include 0, as ONNX requires).</summary>
    private static (float Scale, byte Zero) Activation(float min, float max)
    {
        min = Math.Min(min, 0);
        max = Math.Max(max, 0);
        float scale = Math.Max((max - min) / 255f, 1e-8f);
        return (scale, (byte)Math.Clamp(Math.Round(-min / scale), 0, 255));
    }

    private string QuantizeDequantize(string input, float scale, byte zero)
    {
        string s = ScalarInitializer("act_scale", BitConverter.GetBytes(scale), TensorProto.Types.DataType.Float);
        string z = ScalarInitializer("act_zero", new[] { zero }, TensorProto.Types.DataType.Uint8);
        return Node("DequantizeLinear", new[] { Node("QuantizeLinear", new[] { input, s, z }), s, z });
    }

    private string ScalarInitializer(string stem, byte[] bytes, TensorProto.Types.DataType type)
    {
        string name = Fresh(stem);
        Graph.Initializer.Add(new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) });
        return name;
    }

    /// <summary>An initializer of an integer tensor (int8 or int32), stored as raw little-endian bytes.</summary>
    private string RawInitializer(string stem, Tensor value, TensorProto.Types.DataType type)
    {
        string name = Fresh(stem);
        using var cpu = value.cpu().contiguous();
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(cpu.bytes) };
        t.Dims.AddRange(cpu.shape);
        Graph.Initializer.Add(t);
        return name;
    }

    public string Fresh(string stem) => $"{stem}_{_counter++}";

    public string Initializer(string stem, Tensor value)
    {
        string name = Fresh(stem);
        using var cpu = value.detach().cpu().to(ScalarType.Float32).contiguous();
        float[] data = cpu.data<float>().ToArray();
        var bytes = new byte[data.Length * 4];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(cpu.shape);
        Graph.Initializer.Add(t);
        return name;
    }

    public string Node(string op, string input) => Node(op, new[] { input });

    public string Node(string op, string[] inputs, params AttributeProto[] attributes) => Node(op, inputs, Fresh(op.ToLowerInvariant()), attributes);

    public string Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = Fresh("n_" + op.ToLowerInvariant()) };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return output;
    }

    public string Conv(Tensor weight, Tensor? bias, string input, int kernel, int stride, int pad, int groups)
    {
        var inputs = new List<string> { input, Initializer("conv_w", weight) };
        if (bias is not null) inputs.Add(Initializer("conv_b", bias));
        return Node("Conv", inputs.ToArray(), Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad), Int("group", groups));
    }

    public string BatchNorm(BatchNormLayer bn, string input) =>
        Node("BatchNormalization", new[] { input, Initializer("bn_scale", bn.weight!), Initializer("bn_bias", bn.bias!), Initializer("bn_mean", bn.running_mean!), Initializer("bn_var", bn.running_var!) },
            Float("epsilon", 1e-5f));

    /// <summary>Inference-mode BatchNorm1d as x·s + b with s = γ/√(var+ε), b = β − mean·s (plain Mul/Add on N×C).</summary>
    public string FoldedBatchNorm1d(BatchNormLayer bn, string input)
    {
        using var scope = NewDisposeScope();
        using var bnEps = 1e-5.ToScalar();
        var s = bn.weight! / bn.running_var!.add(bnEps, Scalars.One).sqrt();
        var b = bn.bias! - bn.running_mean! * s;
        return Node("Add", new[] { Node("Mul", new[] { input, Initializer("bn1d_scale", s) }), Initializer("bn1d_shift", b) });
    }

    public string Gemm(Linear linear, string input)
    {
        var inputs = new List<string> { input, Initializer("fc_w", linear.weight) };
        if (linear.bias is not null) inputs.Add(Initializer("fc_b", linear.bias));
        return Node("Gemm", inputs.ToArray(), Int("transB", 1));
    }

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Text(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>A 0-dimensional int64 constant.</summary>
    public string Int64Scalar(long value)
    {
        using var constant = tensor(value);
        return RawInitializer("i64", constant, TensorProto.Types.DataType.Int64);
    }

    /// <summary>A 0-dimensional float constant.</summary>
    public string FloatScalar(float value)
    {
        using var constant = tensor(value);
        return RawInitializer("f32", constant, TensorProto.Types.DataType.Float);
    }

    /// <summary><paramref name="input"/> with a new axis at <paramref name="axis"/> (opset 13 takes the axes as an input).</summary>
    public string Unsqueeze(string input, long axis = 0) => Node("Unsqueeze", new[] { input, Int64Initializer("axes", axis) });

    /// <summary>
    /// GroupNorm as ONNX opset 13 has it: the channels split into groups (Reshape to N×G×rest),
    /// InstanceNormalization over each group, back to the input's shape, then the per-channel scale and shift.
    /// </summary>
    public string GroupNorm(TorchSharp.Modules.GroupNorm norm, string input)
    {
        var weight = norm.weight!;
        long channels = weight.shape[0], groups = norm.num_groups;
        using var ones = TorchSharp.torch.ones(groups);
        using var zeros = TorchSharp.torch.zeros(groups);
        string grouped = Node("Reshape", new[] { input, Int64Initializer("shape", 0, groups, -1) });
        string normalised = Node("InstanceNormalization", new[] { grouped, Initializer("gn_ones", ones), Initializer("gn_zeros", zeros) }, Float("epsilon", (float)norm.eps));
        string back = Node("Reshape", new[] { normalised, Node("Shape", input) });
        using var scale = weight.reshape(channels, 1, 1);
        using var shift = norm.bias!.reshape(channels, 1, 1);
        return Node("Add", new[] { Node("Mul", new[] { back, Initializer("gn_scale", scale) }), Initializer("gn_shift", shift) });
    }

    /// <summary>An int64 constant (shapes, slice bounds).</summary>
    public string Int64Initializer(string stem, params long[] values)
    {
        using var constant = tensor(values);
        return RawInitializer(stem, constant, TensorProto.Types.DataType.Int64);
    }

    /// <summary>
    /// <paramref name="input"/> (N×C×h×w) resized to the height and width of <paramref name="like"/> by
    /// nearest neighbour with PyTorch's F.interpolate coordinates (asymmetric, floor).
    /// </summary>
    public string ResizeLike(string input, string like)
    {
        string batchChannels = Node("Slice", new[] { Node("Shape", input), Int64Initializer("starts", 0), Int64Initializer("ends", 2) });
        string heightWidth = Node("Slice", new[] { Node("Shape", like), Int64Initializer("starts", 2), Int64Initializer("ends", 4) });
        string sizes = Node("Concat", new[] { batchChannels, heightWidth }, Int("axis", 0));
        return Node("Resize", new[] { input, "", "", sizes }, Text("mode", "nearest"), Text("coordinate_transformation_mode", "asymmetric"), Text("nearest_mode", "floor"));
    }

    /// <summary>A float tensor value info; string dimensions are symbolic (dynamic).</summary>
    public static ValueInfoProto Value(string name, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
