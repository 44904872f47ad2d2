using System.Text.Json;
using Google.Protobuf;
using Lumen.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Lumen.Files;

namespace Lumen.Models;

/// <summary>
/// The ImageNet ResNet-18 that ships offline in NuGet <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c>
/// (a CNTK export to ONNX, opset 8). Its stage 4 has three blocks (layout [2,2,2,3]), convolutions are
/// bias-free OIHW, BatchNorm is unfolded (eps 1e-5), and it expects BGR pixels in 0..255 minus a mean
/// image. Lumen reads the ONNX initializers with a protobuf reader (OnnxSharp), copies them one-to-one
/// into a <see cref="ResNet"/> body of that layout, and caches the result under <see cref="LumenHome"/>.
/// Lumen normalises with the mean image's per-channel means (the per-pixel mean image is not used).
/// </summary>
public static class MlNetResNet18
{
    /// <summary>The weights' name in Lumen.</summary>
    public const string WeightsName = "imagenet-mlnet";

    /// <summary>The block layout of this network.</summary>
    public static readonly IReadOnlyList<int> Layout = new[] { 2, 2, 2, 3 };

    private const string PackageFolder = "microsoft.ml.dnnimagefeaturizer.resnet18/0.23.1/tools/DnnImageModels";

    /// <summary>
    /// Finds a file of the package: <c>LUMEN_MLNET_MODELS</c> (a DnnImageModels folder), the copy next to
    /// Lumen's assembly (made by the build), or the NuGet package cache.
    /// </summary>
    /// <exception cref="LumenException">Not found anywhere; the message lists where it looked.</exception>
    public static string Locate(string relative)
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("LUMEN_MLNET_MODELS") is { Length: > 0 } env) candidates.Add(Path.Combine(env, relative));
        candidates.Add(Path.Combine(AppContext.BaseDirectory, "DnnImageModels", relative));
        string nuget = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } n
            ? n
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        candidates.Add(Path.Combine(nuget, PackageFolder, relative));
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new LumenException($"the offline ImageNet ResNet-18 ({relative}) was not found; looked at: {string.Join(", ", candidates)}. Restore the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 or set LUMEN_MLNET_MODELS.");
    }

    /// <summary>Loads the pretrained weights into a [2,2,2,3] BasicBlock body, converting and caching on first use.</summary>
    /// <returns>The normalisation these weights expect.</returns>
    public static Normalization LoadInto(Sequential body, IProgressReporter? progress = null)
    {
        string cached = Path.Combine(LumenHome.Weights, "resnet18-imagenet-mlnet.dat");
        string meansFile = Path.ChangeExtension(cached, ".json");
        if (File.Exists(cached) && File.Exists(meansFile))
        {
            body.load(cached);
            return NormalizationFor(JsonSerializer.Deserialize<float[]>(File.ReadAllText(meansFile))!);
        }
        float[] bgrMeans;
        using (var task = (progress ?? NullProgress.Instance).Start("Converting ImageNet ResNet-18 (ML.NET ONNX)", 1))
        {
            Convert(body, Locate(Path.Combine("ResNet18Onnx", "ResNet18.onnx")));
            bgrMeans = ChannelMeans(Locate(Path.Combine("ResNetPrepOnnx", "ResNetPreprocess.onnx")));
            task.Advance();
        }
        Directory.CreateDirectory(LumenHome.Weights);
        string temp = cached + $".{Guid.NewGuid():N}.tmp";
        body.save(temp);
        File.Move(temp, cached, overwrite: true);
        AtomicFile.WriteAllText(meansFile, JsonSerializer.Serialize(bgrMeans));
        return NormalizationFor(bgrMeans);
    }

    /// <summary>BGR order, 0..255, minus the per-channel means, no std division.</summary>
    internal static Normalization NormalizationFor(float[] bgrMeans) => new(bgrMeans, new[] { 1f, 1f, 1f }, 255f, Bgr: true);

    /// <summary>Per-channel means of the preprocessing graph's MeanImage (1×3×224×224, BGR order).</summary>
    internal static float[] ChannelMeans(string preprocessOnnx)
    {
        var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(preprocessOnnx));
        var mean = model.Graph.Initializer.Single(t => t.Name == "MeanImage");
        float[] values = Floats(mean);
        int plane = values.Length / 3;
        return Enumerable.Range(0, 3).Select(c => (float)values.Skip(c * plane).Take(plane).Average(v => (double)v)).ToArray();
    }

    /// <summary>
    /// Copies the ONNX weights into <paramref name="body"/>. The graph is walked in order: the 7×7 conv is
    /// the stem; the k-th 3×3 conv is conv1 (k even) or conv2 (k odd) of block k/2 in stage order; the
    /// 1×1 convs are the downsamples of stages 2–4. Each conv's BatchNormalization is the node reading
    /// its output (inputs: scale, bias, mean, variance). Shapes are checked at every copy.
    /// </summary>
    internal static void Convert(Sequential body, string onnxPath)
    {
        var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
        var init = model.Graph.Initializer.ToDictionary(t => t.Name, t => t);
        var bnByInput = model.Graph.Node.Where(n => n.OpType == "BatchNormalization").ToDictionary(n => n.Input[0]);
        var target = body.state_dict();
        var blockNames = Enumerable.Range(0, 4).SelectMany(s => Enumerable.Range(0, Layout[s]).Select(b => $"layer{s + 1}.{b}")).ToList();
        int conv3x3 = 0, conv1x1 = 0;
        var assigned = new HashSet<string>();

        void Copy(string key, Onnx.TensorProto source)
        {
            Tensor t = target[key];
            float[] values = Floats(source);
            if (!source.Dims.SequenceEqual(t.shape) && values.Length != t.numel())
                throw new LumenException($"'{onnxPath}': {source.Name} [{string.Join(",", source.Dims)}] does not fit {key} [{string.Join(",", t.shape)}]");
            using var noGrad = no_grad();
            using var src = tensor(values, t.shape);
            t.copy_(src);
            assigned.Add(key);
        }

        foreach (var node in model.Graph.Node.Where(n => n.OpType == "Conv"))
        {
            long[] kernel = node.Attribute.Single(a => a.Name == "kernel_shape").Ints.ToArray();
            string prefix;
            string bnName;
            if (kernel[0] == 7) { prefix = "conv1"; bnName = "bn1"; }
            else if (kernel[0] == 3)
            {
                string block = blockNames[conv3x3 / 2];
                int which = conv3x3 % 2 + 1;
                prefix = $"{block}.conv{which}";
                bnName = $"{block}.bn{which}";
                conv3x3++;
            }
            else
            {
                conv1x1++;
                prefix = $"layer{conv1x1 + 1}.0.downsample.0";
                bnName = $"layer{conv1x1 + 1}.0.downsample.1";
            }
            Copy(prefix + ".weight", init[node.Input[1]]);
            var bn = bnByInput[node.Output[0]];
            Copy(bnName + ".weight", init[bn.Input[1]]);
            Copy(bnName + ".bias", init[bn.Input[2]]);
            Copy(bnName + ".running_mean", init[bn.Input[3]]);
            Copy(bnName + ".running_var", init[bn.Input[4]]);
        }
        var unassigned = target.Keys.Where(k => !k.EndsWith("num_batches_tracked") && !assigned.Contains(k)).ToList();
        if (unassigned.Count > 0)
            throw new LumenException($"'{onnxPath}' did not provide {unassigned.Count} parameters (e.g. {unassigned[0]}); is it the ML.NET ResNet-18?");
    }

    private static float[] Floats(Onnx.TensorProto t)
    {
        if (t.FloatData.Count > 0) return t.FloatData.ToArray();
        var bytes = t.RawData.Span;
        var result = new float[bytes.Length / 4];
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result);
        return result;
    }
}
