using System.Diagnostics;
using Lumen.Data;
using Lumen.Imaging;
using Lumen.Inference;
using Lumen.Models;
using Lumen.Tests.Support;
using Lumen.Training;

namespace Lumen.Bench;

/// <summary>
/// Fuzzes the readers of untrusted Lumen files: N seeded mutations (<see cref="ModelFileFuzzer"/>) of
/// a valid model file (ResNet-18, 3 classes) and of a valid training checkpoint. Every case must load
/// or fail with a <see cref="LumenException"/> naming the file, within 5 s; prints counts per format
/// and mutation, the slowest cases and the process's peak RSS. Rerun one case with --case N.
/// The architecture only sets the size of the weights (the file's structure is the same for all);
/// a small one (--arch mobilenet_v3_small, 10 MB) runs the cases about four times faster than ResNet-18's 45 MB.
/// Label files (the labels CSV) are fuzzed the same way with <see cref="LabelFileFuzzer"/>.
/// Usage: fuzz-models [--cases 10000] [--seed 1] [--format model|checkpoint|labels|all] [--arch resnet18] [--case N]
/// </summary>
internal static class FuzzModelsBench
{
    public static int Run(string[] args)
    {
        int cases = int.Parse(Program.Option(args, "--cases", "10000"));
        int seed = int.Parse(Program.Option(args, "--seed", "1"));
        string formats = Program.Option(args, "--format", "all");
        string arch = Program.Option(args, "--arch", "resnet18");
        string work = Path.Combine(Path.GetTempPath(), "lumen-fuzz-models-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            using var model = VisionModel.Create(arch, 3, weights: "none");
            var training = new TrainingInfo(new Dictionary<string, double>(), 0, 42, DateTime.UtcNow, "bench", "", 0, 0, "cross_entropy", Augment.AugmentOptions.Default);
            string modelPath = Path.Combine(work, "model.lumen");
            ModelFile.Save(model, new[] { "a", "b", "c" }, Lumen.Tasks.ImageTask.SingleLabel, 0.5, new Preprocessing(32, ResizeMethod.Crop, PadMode.Reflection, model.Normalization), training, modelPath);
            string data = Path.Combine(work, "data");
            foreach (var (cls, colour) in new[] { ("red", (byte)200), ("green", (byte)40) })
            {
                Directory.CreateDirectory(Path.Combine(data, cls));
                for (int i = 0; i < 4; i++) File.WriteAllBytes(Path.Combine(data, cls, $"{i}.png"), RgbImage.Filled(32, 32, colour, (byte)(255 - colour), 90).EncodePng());
            }
            var loaders = ImageDataLoaders.FromFolder(data, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4 } });
            var learner = VisionLearner.Create(loaders, arch, pretrained: false);
            string checkpointPath = Path.Combine(work, "checkpoint.lumenckpt");
            Checkpoint.Save(learner, checkpointPath);

            byte[] labels = System.Text.Encoding.UTF8.GetBytes(string.Join("\n", new[] { "file,label,is_valid" }.Concat(
                Directory.GetFiles(data, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                    .Select((f, i) => $"{Path.GetRelativePath(data, f)},{Path.GetFileName(Path.GetDirectoryName(f))},{(i % 4 == 0 ? "true" : "false")}"))));
            var targets = new List<(string Format, Func<int, (int Number, string Mutation, byte[] Bytes)> Make, Action<string> Load)>();
            var modelFuzzer = new ModelFileFuzzer(File.ReadAllBytes(modelPath), seed);
            var checkpointFuzzer = new ModelFileFuzzer(File.ReadAllBytes(checkpointPath), seed);
            var labelFuzzer = new LabelFileFuzzer(labels, seed);
            if (formats is "model" or "all") targets.Add(("model", n => { var c = modelFuzzer.Make(n); return (c.Number, c.Mutation, c.Bytes); }, path => ModelFile.Load(path).Dispose()));
            if (formats is "checkpoint" or "all") targets.Add(("checkpoint", n => { var c = checkpointFuzzer.Make(n); return (c.Number, c.Mutation, c.Bytes); }, path => Checkpoint.Load(learner, path)));
            if (formats is "labels" or "all") targets.Add(("labels", n => { var c = labelFuzzer.Make(n); return (c.Number, c.Mutation, c.Bytes); }, path => CsvSource.Read(path, data)));
            int failures = 0;
            Console.WriteLine($"fuzz-models: {arch}, model file {new FileInfo(modelPath).Length / 1e6:F1} MB, checkpoint {new FileInfo(checkpointPath).Length / 1e6:F1} MB, seed {seed}");
            foreach (var (format, make, load) in targets)
                failures += Fuzz(format, make, load, cases, Program.Option(args, "--case", ""), work);
            Console.WriteLine($"  peak RSS {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB");
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    private static int Fuzz(string format, Func<int, (int Number, string Mutation, byte[] Bytes)> make, Action<string> load, int cases, string only, string work)
    {
        var failures = new List<string>();
        var counts = new SortedDictionary<string, (int Loaded, int Refused)>(StringComparer.Ordinal);
        var times = new List<(double Ms, int Number, string Mutation)>();
        var growth = new List<(double Mb, int Number, string Mutation)>();
        var clock = Stopwatch.StartNew();
        foreach (var c in only.Length > 0 ? new[] { make(int.Parse(only)) } : Enumerable.Range(0, cases).Select(make))
        {
            string path = Path.Combine(work, $"case{c.Number:D5}.{format}");
            File.WriteAllBytes(path, c.Bytes);
            long rssBefore = ServeLoadBench.Rss();
            var one = Stopwatch.StartNew();
            var attempt = Task.Run<(bool Loaded, string? Problem)>(() =>
            {
                try { load(path); return (true, null); }
                catch (LumenException e) { return (false, e.Message.Contains(path) ? null : $"the message does not name the file: {e.Message}"); }
                catch (Exception e) { return (false, $"{e.GetType().Name}: {e.Message.Split('\n')[0]}"); }
            });
            if (!attempt.Wait(TimeSpan.FromSeconds(5))) { failures.Add($"case {c.Number} ({c.Mutation}): still loading after 5 s"); attempt.Wait(); }
            times.Add((one.Elapsed.TotalMilliseconds, c.Number, c.Mutation));
            growth.Add(((ServeLoadBench.Rss() - rssBefore) / 1e6, c.Number, c.Mutation));
            var (loaded, problem) = attempt.Result;
            if (problem is not null) failures.Add($"case {c.Number} ({c.Mutation}): {problem}");
            var n = counts.GetValueOrDefault(c.Mutation);
            counts[c.Mutation] = loaded ? (n.Loaded + 1, n.Refused) : (n.Loaded, n.Refused + 1);
            File.Delete(path);
        }
        Console.WriteLine($"fuzz-models {format}: {times.Count} cases in {clock.Elapsed.TotalSeconds:F0} s");
        foreach (var (mutation, (loadedCount, refused)) in counts)
            Console.WriteLine($"  {mutation,-22} loaded {loadedCount,5}, refused with a message {refused,5}");
        times.Sort((a, b) => b.Ms.CompareTo(a.Ms));
        Console.WriteLine($"  slowest: {string.Join(", ", times.Take(3).Select(t => $"{t.Ms:F0} ms (case {t.Number}, {t.Mutation})"))}");
        growth.Sort((a, b) => b.Mb.CompareTo(a.Mb));
        Console.WriteLine($"  largest RSS growth in one case: {string.Join(", ", growth.Take(3).Select(g => $"{g.Mb:F0} MB (case {g.Number}, {g.Mutation})"))}");
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var gc = GC.GetGCMemoryInfo();
        Console.WriteLine($"  after a full GC: RSS {ServeLoadBench.Rss() / 1e6:F0} MB, managed heap {gc.HeapSizeBytes / 1e6:F0} MB (committed {gc.TotalCommittedBytes / 1e6:F0} MB); after glibc's malloc_trim: RSS {(MallocTrim(0) >= 0 ? ServeLoadBench.Rss() / 1e6 : 0):F0} MB");
        Console.WriteLine(failures.Count == 0 ? "  no crash, no hang over 5 s, every failure a clear message naming the file" : $"  {failures.Count} FAILURES:\n    " + string.Join("\n    ", failures.Take(50)));
        return failures.Count;
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
