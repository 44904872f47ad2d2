using System.Diagnostics;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Models;
using Lumen.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Bench;

/// <summary>
/// Training and inference speed of resnet18/34 at 128 and 224 px on synthetic batches (so the data
/// pipeline is not measured here; see the data benchmark), the frozen-phase speed-ups (train_bn=False
/// without autograd through the body, and the feature cache), and the same models in PyTorch 1.13
/// from Debian, run by bench/python/train_infer.py in the same run, with Lumen/PyTorch ratios.
/// Usage: train [--seconds 8] [--bs 32]
/// </summary>
internal static class TrainingBench
{
    public static int Run(string[] args)
    {
        double seconds = double.Parse(Program.Option(args, "--seconds", "8"), System.Globalization.CultureInfo.InvariantCulture);
        int bs = int.Parse(Program.Option(args, "--bs", "32"));
        Console.WriteLine($"training/inference benchmark: random-init models, batch {bs}, ~{seconds}s per cell, {torch.get_num_threads()} threads");
        var lumen = new Dictionary<string, double>();
        foreach (string arch in new[] { "resnet18", "resnet34" })
            foreach (int size in new[] { 128, 224 })
            {
                using var model = VisionModel.Create(arch, 10, weights: "none");
                lumen[$"{arch}_{size}_train"] = TrainSpeed(model, bs, size, seconds);
                lumen[$"{arch}_{size}_infer"] = InferSpeed(model, bs, size, seconds);
                Console.WriteLine($"lumen   {arch} {size}px: train {lumen[$"{arch}_{size}_train"],6:F1} img/s, inference {lumen[$"{arch}_{size}_infer"],6:F1} img/s");
            }
        FrozenPhase(seconds);
        var torchResults = Program.RunPython("train_infer.py", $"--seconds {seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} --bs {bs} --threads {torch.get_num_threads()}");
        if (torchResults is not null)
        {
            Console.WriteLine("ratios (Lumen / PyTorch 1.13, same machine, same threads):");
            foreach (var (key, value) in lumen)
                if (torchResults.TryGetValue(key, out double baseline))
                    Console.WriteLine($"  {key,-22} lumen {value,6:F1}  pytorch {baseline,6:F1}  ratio {value / baseline:F2}x");
        }
        return 0;
    }

    private static double TrainSpeed(VisionModel model, int bs, int size, double seconds)
    {
        model.train();
        var optimizer = new AdamW(model.LayerGroups());
        var x = randn(bs, 3, size, size);
        var y = randint(0, 10, new long[] { bs });
        void Step()
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            optimizer.ZeroGrad();
            loss.backward();
            optimizer.Step();
        }
        Step();
        return Timed(Step, bs, seconds);
    }

    private static double InferSpeed(VisionModel model, int bs, int size, double seconds)
    {
        model.eval();
        var x = randn(bs, 3, size, size);
        void Step()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            model.forward(x);
        }
        Step();
        return Timed(Step, bs, seconds);
    }

    private static double Timed(Action step, int bs, double seconds)
    {
        var clock = Stopwatch.StartNew();
        int steps = 0;
        while (clock.Elapsed.TotalSeconds < seconds || steps < 2) { step(); steps++; }
        return steps * bs / clock.Elapsed.TotalSeconds;
    }

    /// <summary>One frozen epoch three ways on the brain-MRI set at 128 px: fastai's default (BatchNorm trainable), --freeze-bn, --freeze-bn with the feature cache.</summary>
    private static void FrozenPhase(double seconds)
    {
        string folder = Program.DefaultData();
        if (!Directory.Exists(folder)) { Console.WriteLine($"frozen-phase speed-up skipped: {folder} not found"); return; }
        var data = ImageDataLoaders.FromFolder(folder, new DataOptions { Item = new ItemTransform(128), Loader = new LoaderOptions { BatchSize = 32 }, Augment = AugmentOptions.None });
        double Epoch(bool trainBn, bool cache)
        {
            var learner = VisionLearner.Create(data, "resnet18", options: new TrainingOptions { TrainBn = trainBn });
            learner.FeatureCache.Enabled = cache;
            var clock = Stopwatch.StartNew();
            learner.FitOneCycle(2, 1e-3);
            return clock.Elapsed.TotalSeconds;
        }
        double full = Epoch(true, false), noGrad = Epoch(false, false), cached = Epoch(false, true);
        Console.WriteLine($"frozen phase, 2 epochs of the brain-MRI sample at 128px (384 train + 96 valid images, includes validation and decoding):");
        Console.WriteLine($"  BatchNorm trainable (fastai default) {full,6:F1}s");
        Console.WriteLine($"  --freeze-bn (body without autograd)  {noGrad,6:F1}s  speed-up {full / noGrad:F2}x");
        Console.WriteLine($"  --freeze-bn --aug none (feature cache) {cached,6:F1}s  speed-up {full / cached:F2}x");
    }
}
