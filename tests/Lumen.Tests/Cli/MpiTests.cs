using Lumen.Inference;
using Lumen.Tests.Support;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>Data-parallel training and sharded prediction as real MPI jobs of two processes.</summary>
[Trait("Category", Category.Mpi)]
public class MpiTests
{
    [Trait("Category", Category.Slow)]
    [MpiFact]
    public void TwoRanksTrainTheWeightsOneProcessTrainsOnTheSameGlobalBatches()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b", "c" }, 8, size: 32, prefix: "images");
        // No layer whose result depends on how a batch is split (BatchNorm in training mode, dropout) and no
        // random augmentation: then two processes on halves of each batch must compute what one does on the
        // whole. So: the frozen phase only, with BatchNorm frozen too, and the plain (linear) head.
        string[] recipe = { "--weights", "none", "--head", "plain", "--freeze-bn", "--aug", "none", "--size", "32", "--bs", "6",
            "--freeze-epochs", "3", "--epochs", "0", "--lr", "3e-2", "--threads", "1" };
        var (code, output) = LumenProcess.Run(new[] { "train", dir.File("images"), "--out", dir.File("one") }.Concat(recipe).ToArray());
        Assert.True(code == 0, output);
        (code, output) = Mpi.Run(2, new[] { "train", dir.File("images"), "--out", dir.File("two") }.Concat(recipe).ToArray());
        Assert.True(code == 0, output);
        Assert.Contains("data-parallel: 2 processes", output);
        Assert.False(Directory.Exists(dir.File("two", "rank-1")));

        using var one = ModelFile.Load(dir.File("one", "model.lumen"));
        using var two = ModelFile.Load(dir.File("two", "model.lumen"));
        var initial = Initial(one);
        float moved = 0, worst = 0;
        foreach (var (name, a) in one.Model.state_dict().Where(kv => kv.Value.dtype == ScalarType.Float32))
        {
            var b = two.Model.state_dict()[name];
            worst = Math.Max(worst, (a - b).abs().max().item<float>());
            moved = Math.Max(moved, (a - initial[name]).abs().max().item<float>());
        }
        Assert.True(moved > 1e-3, $"training did not change the weights (largest change {moved})");
        Assert.True(worst < 1e-4, $"2 processes differ from 1 by up to {worst} (training moved weights by up to {moved})");
        // Both ran the same epochs and measured the same validation metrics.
        Assert.Equal(File.ReadAllLines(dir.File("one", "history.csv")).Length, File.ReadAllLines(dir.File("two", "history.csv")).Length);
        Assert.Equal(one.Info.Training.Metrics["accuracy"], two.Info.Training.Metrics["accuracy"], 6);
    }

    /// <summary>The seeded random initialisation both runs started from (rebuilt the way train builds it).</summary>
    private static Dictionary<string, Tensor> Initial(LoadedModel trained)
    {
        manual_seed(trained.Info.Training.Seed);
        using var fresh = Lumen.Models.VisionModel.Create("resnet18", trained.Info.Classes.Count, weights: "none", head: trained.Info.Spec.Head);
        return fresh.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
    }

    [Trait("Category", Category.Slow)]
    [MpiFact]
    public void ShardedPredictionMergesIntoTheSingleProcessCsv()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 11, size: 40, prefix: "images");
        dir.Write("images/b/broken.png", "not an image"u8.ToArray());
        string model = TinyModel.Save(dir.File("m.lumen"), new[] { "a", "b" });
        var (code, output) = LumenProcess.Run("predict", model, dir.File("images"), "--out", dir.File("one.csv"), "--threads", "1");
        Assert.True(code == 0, output);
        (code, output) = Mpi.Run(2, "predict", model, dir.File("images"), "--out", dir.File("two.csv"), "--threads", "1", "--bs", "4");
        Assert.True(code == 0, output);
        Assert.Contains("22 image(s) predicted by 2 processes", output);
        Assert.Contains("broken.png", output);
        Assert.Equal(File.ReadAllText(dir.File("one.csv")), File.ReadAllText(dir.File("two.csv")));
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), f => Path.GetFileName(f).StartsWith("two.csv."));
    }

    [Trait("Category", Category.Slow)]
    [MpiFact]
    public void ARankThatDiesStopsTheJobInsteadOfLeavingTheOthersWaiting()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 20, size: 64, prefix: "images");
        var psi = new System.Diagnostics.ProcessStartInfo("mpirun") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "--oversubscribe", "--allow-run-as-root", "-np", "2", "-x", "OMP_NUM_THREADS=1", "dotnet", LumenProcess.Dll,
                     "train", dir.File("images"), "--out", dir.File("run"), "--weights", "none", "--size", "64", "--bs", "8", "--epochs", "40", "--lr", "1e-3", "--threads", "1" })
            psi.ArgumentList.Add(a);
        using var mpirun = System.Diagnostics.Process.Start(psi)!;
        var output = mpirun.StandardOutput.ReadToEndAsync();
        var errors = mpirun.StandardError.ReadToEndAsync();
        // Wait until training runs (the first checkpoint), then kill one rank as an out-of-memory killer would.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!File.Exists(dir.File("run", "checkpoint.lumenckpt")) && clock.Elapsed < TimeSpan.FromMinutes(2) && !mpirun.HasExited) Thread.Sleep(100);
        Assert.False(mpirun.HasExited, "the job ended before a rank could be killed");
        var ranks = RankProcesses(mpirun.Id);
        Assert.Equal(2, ranks.Count);
        System.Diagnostics.Process.GetProcessById(ranks[^1]).Kill();
        bool ended = mpirun.WaitForExit(TimeSpan.FromSeconds(60));
        if (!ended) mpirun.Kill(entireProcessTree: true);
        Assert.True(ended, "the job kept running (or hung) for 60 s after one of its ranks died");
        Assert.NotEqual(0, mpirun.ExitCode);
        string text = output.Result + errors.Result;
        Assert.Matches("(exited on signal 9|killed|terminated)", text);
        Assert.Empty(RankProcesses(mpirun.Id));
    }

    /// <summary>The ranks mpirun started on this machine (its child processes).</summary>
    private static List<int> RankProcesses(int mpirun) =>
        Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => int.TryParse(n, out _)).Select(int.Parse!)
            .Where(pid =>
            {
                try { return File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].Split(' ')[1] == mpirun.ToString(); }
                catch (IOException) { return false; }
            })
            .Where(pid => File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("lumen.dll"))
            .ToList();
}
