using Lumen.Data;
using Lumen.Models;
using Lumen.Tests.Support;
using Xunit.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Tensor = TorchSharp.torch.Tensor;

namespace Lumen.Tests;

/// <summary>The offline ImageNet ResNet-18 from the ML.NET NuGet package, checked against ONNX Runtime.</summary>
[Collection(nameof(MemoryCollection))]
public class PretrainedResNet18Tests(ITestOutputHelper output)
{
    [Fact]
    public void PooledFeaturesMatchOnnxRuntime()
    {
        using var scope = NewDisposeScope();
        using var model = VisionModel.Create("resnet18", 2); // default = offline imagenet-mlnet, no network
        Assert.Equal(MlNetResNet18.WeightsName, model.Spec.Weights);
        Assert.True(model.Normalization.Bgr);
        Assert.Equal(255f, model.Normalization.Scale);
        Assert.InRange(model.Normalization.Mean[0], 100f, 106f); // blue ≈ 103.06
        Assert.InRange(model.Normalization.Mean[2], 120f, 126f); // red ≈ 123.15
        model.eval();

        // The same preprocessed input for both: a real-looking image through Lumen's normalisation.
        var image = TestImages.Pattern(224, 224, seed: 11);
        var input = model.Normalization.Normalize(Lumen.Imaging.ImageTensor.Stack(new[] { image }, CPU));
        Tensor lumen;
        using (no_grad())
            lumen = functional.adaptive_avg_pool2d(model.Body.forward(input), new long[] { 1, 1 }).flatten();

        using var session = new InferenceSession(MlNetResNet18.Locate(Path.Combine("ResNet18Onnx", "ResNet18.onnx")));
        var dense = new DenseTensor<float>(input.data<float>().ToArray(), new[] { 1, 3, 224, 224 });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.Single(), dense) });
        float[] onnx = results.Single().AsEnumerable<float>().ToArray();

        float[] ours = lumen.data<float>().ToArray();
        Assert.Equal(512, onnx.Length);
        float maxDiff = ours.Zip(onnx, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff < 1e-4f, $"max abs difference {maxDiff}");
        Assert.True(onnx.Max() > 0.1f, "features should not be all zero");
    }

    [Trait("Category", Category.Slow)]
    [BrainMriFact]
    public void PretrainedFeaturesSeparateRealClassesFarBetterThanRandomInit()
    {
        // A linear probe on frozen pooled features: logistic regression, 5-fold cross-validated over all
        // 480 images of the 4 classes at 224 px. Good features are linearly separable.
        var dls = ImageDataLoaders.FromFolder(BrainMri.Folder!, new DataOptions { Item = new ItemTransform(224), Loader = new LoaderOptions { BatchSize = 60 }, Augment = Lumen.Augment.AugmentOptions.None });
        var everything = new DataLoader(dls.Train.Items.Concat(dls.Valid.Items).ToList(), dls.Vocab, dls.Task, dls.Options, training: false, CPU);
        double ProbeError(string weights)
        {
            using var scope = NewDisposeScope();
            // Seeded: a random initialisation drawn from whatever state torch's generator was left in
            // made the random-init figure, and so this test, depend on the tests that ran before it.
            manual_seed(42);
            using var model = VisionModel.Create("resnet18", 4, weights);
            model.eval();
            var xs = new List<Tensor>();
            var ys = new List<Tensor>();
            using (no_grad())
            {
                foreach (var batch in everything.Batches())
                {
                    using (batch)
                    {
                        // The loader normalises with ImageNet statistics; redo it for these weights.
                        var raw = everything.Normalization.Denormalize(batch.Images);
                        xs.Add(functional.adaptive_avg_pool2d(model.Body.forward(model.Normalization.Normalize(raw)), new long[] { 1, 1 }).flatten(1));
                        ys.Add(batch.Targets.clone());
                    }
                }
            }
            var x = cat(xs, 0);
            var y = cat(ys, 0);
            var fold = arange(x.shape[0]).remainder(5);
            double errors = 0;
            for (int k = 0; k < 5; k++)
            {
                var trainMask = fold.ne(k);
                var testMask = fold.eq(k);
                var trainX = x[trainMask];
                var mean = trainX.mean(new long[] { 0 }, keepdim: true);
                var std = trainX.std(0, keepdim: true) + 1e-6;
                trainX = (trainX - mean) / std;
                var testX = (x[testMask] - mean) / std;
                var w = new TorchSharp.Modules.Parameter(zeros(x.shape[1], 4));
                var b = new TorchSharp.Modules.Parameter(zeros(4));
                var optimizer = optim.Adam(new[] { w, b }, lr: 0.01);
                for (int step = 0; step < 200; step++)
                {
                    optimizer.zero_grad();
                    var loss = functional.cross_entropy(trainX.matmul(w) + b, y[trainMask]) + 1e-3 * w.pow(2).sum();
                    loss.backward();
                    optimizer.step();
                }
                using var noGrad = no_grad();
                errors += (testX.matmul(w) + b).argmax(1).ne(y[testMask]).sum().item<long>();
            }
            return errors / x.shape[0];
        }
        double pretrained = ProbeError("default"), random = ProbeError("none");
        output.WriteLine($"linear-probe error (5-fold CV, 480 images, 224 px): pretrained imagenet-mlnet {pretrained:P1}, random init {random:P1}");
        Assert.True(pretrained < 0.6 * random, $"linear-probe error: pretrained {pretrained:P1} vs random init {random:P1}");
    }
}
