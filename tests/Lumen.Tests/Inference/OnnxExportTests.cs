using Lumen.Imaging;
using Lumen.Data;
using TorchSharp;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Tests.Support;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Lumen.Tests;

public class OnnxExportTests
{
    /// <summary>
    /// A random model whose BatchNorm statistics come from a batch (as after training, so activations
    /// keep a realistic scale through 150 layers and every exported op matters), saved as a .lumen file.
    /// </summary>
    private static string SavedModel(TempFolder dir, string arch, string weights = "none", bool multiLabel = false)
    {
        manual_seed(11);
        using var model = VisionModel.Create(arch, 3, weights: weights);
        var norms = model.modules().OfType<TorchSharp.Modules.BatchNorm>().ToList();
        foreach (var bn in norms) bn.momentum = 1.0;
        model.train();
        using (no_grad()) model.forward(randn(8, 3, 64, 64));
        foreach (var bn in norms) bn.momentum = 0.1;
        // Trained ResNets have small scales on each block's last BatchNorm; a random net with unit scales
        // is chaotic (float32 rounding alone then moves deep logits by 1e-3, in Lumen and ONNX Runtime alike).
        string last = model.Architecture.Features == 2048 ? "bn3" : "bn2";
        using (no_grad())
            foreach (var (name, m) in model.named_modules())
                if (m is BatchNormLayer bn && name.StartsWith("body.layer") && name.EndsWith(last)) { bn.weight!.mul_(0.2); bn.bias!.mul_(0.2); }
        model.eval();
        var training = new TrainingInfo(new Dictionary<string, double>(), 0, 42, DateTime.UtcNow, "test", "", 0, 0, "cross_entropy", Lumen.Augment.AugmentOptions.Default);
        string path = dir.File($"{arch}.lumen");
        ModelFile.Save(model, new[] { "a", "b", "c" }, multiLabel ? Lumen.Tasks.ImageTask.MultiLabel : Lumen.Tasks.ImageTask.SingleLabel, 0.5, new Preprocessing(64, ResizeMethod.Crop, PadMode.Reflection, model.Normalization), training, path);
        return path;
    }

    [Trait("Category", Category.Slow)]
    [Theory]
    [InlineData("resnet18", "none")]
    [InlineData("resnet18", "imagenet-mlnet")]
    [InlineData("resnet34", "none")]
    [InlineData("resnet50", "none")]
    [InlineData("resnet101", "none")]
    [InlineData("resnet152", "none")]
    [InlineData("resnext50_32x4d", "none")]
    public void OnnxRuntimeGivesLumensLogits(string arch, string weights)
    {
        using var dir = new TempFolder();
        using var loaded = ModelFile.Load(SavedModel(dir, arch, weights));
        string onnx = dir.File("model.onnx");
        OnnxExport.Write(loaded, onnx);

        var input = randn(3, 3, 64, 64);
        Tensor expected;
        using (no_grad()) expected = loaded.Model.forward(input);

        // No graph rewrites (Conv+BatchNorm folding changes float rounding, which 150 layers amplify): the graph as exported.
        using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(onnx, sessionOptions);
        var dense = new DenseTensor<float>(input.data<float>().ToArray(), new[] { 3, 3, 64, 64 });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("input", dense) });
        float[] logits = results.Single(r => r.Name == "logits").AsEnumerable<float>().ToArray();
        float[] probabilities = results.Single(r => r.Name == "probabilities").AsEnumerable<float>().ToArray();
        float[] ours = expected.data<float>().ToArray();
        float maxDiff = ours.Zip(logits, (a, b) => Math.Abs(a - b)).Max();

        Assert.True(maxDiff < 1e-4f, $"{arch}: max abs difference {maxDiff} (largest logit {ours.Max(Math.Abs)})");
        Assert.Equal(1f, probabilities.Take(3).Sum(), 4);
        Assert.Equal("[\"a\",\"b\",\"c\"]", session.ModelMetadata.CustomMetadataMap["classes"]);
        Assert.Contains("\"size\":64", session.ModelMetadata.CustomMetadataMap["preprocessing"]);
    }

    [Fact]
    public void UnsupportedArchitecturesAreRefusedClearly()
    {
        using var dir = new TempFolder();
        using var loaded = ModelFile.Load(SavedModel(dir, "mobilenet_v3_small"));
        var e = Assert.Throws<LumenException>(() => OnnxExport.Write(loaded, dir.File("m.onnx")));
        Assert.Contains("ResNet family", e.Message);
        Assert.False(File.Exists(dir.File("m.onnx")));
    }
}
