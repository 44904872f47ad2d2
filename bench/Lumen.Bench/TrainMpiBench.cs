using System.Diagnostics;
using System.Globalization;
using Lumen.Data;
using Lumen.Distributed;
using Lumen.Training;

namespace Lumen.Bench;

/// <summary>
/// Data-parallel training speed: the same training steps (resnet18, unfrozen, batch 32 from the bundled
/// sample through the real data loader and Learner) as 1 process with 2 threads and as 2 MPI processes
/// with 1 thread each, at 128 and 224 px; images/s, time per step and all-reduce time per step; then a
/// simple model of what the measured figures imply for 2, 8 and 32 machines on a network.
/// Usage: train-mpi [--steps 12] [--bs 32] [--sizes 128,224] [--gbits 10]
/// (internally: train-mpi --worker, run alone and under mpirun).
/// </summary>
internal static class TrainMpiBench
{
    public static int Run(string[] args)
    {
        if (args.Contains("--worker")) return Worker(args);
        int steps = int.Parse(Program.Option(args, "--steps", "12"));
        int bs = int.Parse(Program.Option(args, "--bs", "32"));
        double gbits = double.Parse(Program.Option(args, "--gbits", "10"), CultureInfo.InvariantCulture);
        var sizes = Program.Option(args, "--sizes", "128,224").Split(',').Select(int.Parse).ToList();
        if (!File.Exists("/usr/bin/mpirun")) throw new LumenException("mpirun not found: apt-get install openmpi-bin libopenmpi-dev");
        string self = Environment.ProcessPath!;
        string data = Program.Option(args, "--data", Program.DefaultData());
        Console.WriteLine($"data-parallel training benchmark: resnet18 (random init, unfrozen), global batch {bs}, {steps} timed steps after 2 warm-up steps, data {data}, {Environment.ProcessorCount} cores");
        foreach (int size in sizes)
        {
            string common = $"train-mpi --worker --size {size} --steps {steps} --bs {bs} --data \"{data}\"";
            var one = Launch(self, $"{common} --threads {Environment.ProcessorCount}", mpiRanks: 0);
            var two = Launch(self, $"{common} --threads 1", mpiRanks: 2);
            Console.WriteLine($"{size} px  1 process x {Environment.ProcessorCount} threads: {one["images_per_s"],6:F1} img/s, {one["step_ms"],6:F0} ms/step"
                              + $" | 2 processes x 1 thread: {two["images_per_s"],6:F1} img/s, {two["step_ms"],6:F0} ms/step, all-reduce {two["allreduce_ms"],5:F1} ms/step"
                              + $" ({two["allreduce_ms"] / two["step_ms"]:P1} of a step, {two["gradient_mb"]:F1} MB of gradients) | 2x1 / 1x2 = {two["images_per_s"] / one["images_per_s"]:F2}x");
            // Ring all-reduce sends and receives 2(N-1)/N of the gradients per step on each machine; the
            // compute per machine is what one process needs for its slice (here: the 2-process step
            // minus its all-reduce, i.e. a bs/2 step on one core).
            double gradientBytes = two["gradient_mb"] * 1e6, bandwidth = gbits * 1e9 / 8;
            double computeMs = two["step_ms"] - two["allreduce_ms"];
            foreach (int machines in new[] { 2, 8, 32 })
            {
                double communicationMs = 2.0 * (machines - 1) / machines * gradientBytes / bandwidth * 1000;
                double speedup = machines * computeMs / (computeMs + communicationMs);
                Console.WriteLine($"          model, {machines,2} machines on {gbits:G} Gbit/s (each computing a {bs / 2}-image slice as one process here does, no overlap): "
                                  + $"all-reduce ~{communicationMs:F0} ms/step vs compute {computeMs:F0} ms -> ~{speedup:F1}x one machine");
            }
        }
        return 0;
    }

    private static Dictionary<string, double> Launch(string self, string arguments, int mpiRanks)
    {
        var psi = mpiRanks > 0
            ? new ProcessStartInfo("mpirun", $"--oversubscribe --allow-run-as-root -np {mpiRanks} -x OMP_NUM_THREADS=1 \"{self}\" {arguments}")
            : new ProcessStartInfo(self, arguments);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var process = Process.Start(psi)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new LumenException($"the worker failed ({process.ExitCode}): {errors.Result.Trim()} {output.Trim()}");
        return Program.KeyValues(output);
    }

    private static int Worker(string[] args)
    {
        int size = int.Parse(Program.Option(args, "--size", "128"));
        int steps = int.Parse(Program.Option(args, "--steps", "12"));
        int bs = int.Parse(Program.Option(args, "--bs", "32"));
        TorchSharp.torch.set_num_threads(int.Parse(Program.Option(args, "--threads", "1")));
        using var group = ProcessGroups.FromEnvironment();
        var data = ImageDataLoaders.FromFolder(Program.Option(args, "--data", Program.DefaultData()),
            new DataOptions { Item = new ItemTransform(size), Loader = new LoaderOptions { BatchSize = bs, Workers = 1 } });
        if (group is not null) data = data.WithTrain(data.Train.WithShard(group.Rank, group.Size));
        using var learner = VisionLearner.Create(data, "resnet18", weights: "none");
        learner.Unfreeze();
        var parallel = group is null ? null : new DataParallel(group);
        if (parallel is not null) learner.Callbacks.Add(parallel);
        var timer = new StepTimer(warmup: 2, steps);
        learner.Callbacks.Add(timer);
        int epochs = (int)Math.Ceiling((steps + 2.0) / data.Train.BatchCount);
        learner.Fit(epochs, 1e-3);
        if (group is { Rank: > 0 }) return 0;
        double seconds = timer.Elapsed.TotalSeconds;
        double gradientMb = learner.Model.parameters().Where(p => p.requires_grad).Sum(p => p.numel()) * 4 / 1e6;
        var invariant = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(invariant, $"images_per_s={steps * bs / seconds}"));
        Console.WriteLine(string.Create(invariant, $"step_ms={seconds * 1000 / steps}"));
        Console.WriteLine(string.Create(invariant, $"allreduce_ms={(parallel is null ? 0 : parallel.AllreduceTime.TotalMilliseconds / parallel.Steps)}"));
        Console.WriteLine(string.Create(invariant, $"gradient_mb={gradientMb}"));
        return 0;
    }

    /// <summary>Times <c>steps</c> training batches after <c>warmup</c> ones, then stops the fit.</summary>
    private sealed class StepTimer(int warmup, int steps) : ICallback
    {
        private readonly Stopwatch _clock = new();
        private int _batches;

        public TimeSpan Elapsed => _clock.Elapsed;

        void ICallback.AfterBatch(Learner learner)
        {
            if (!learner.Training) return;
            _batches++;
            if (_batches == warmup) _clock.Start();
            if (_batches == warmup + steps)
            {
                _clock.Stop();
                learner.Stop("timed");
            }
        }
    }
}
