using System.Diagnostics;
using Lumen.Imaging;
using Lumen.Tests.Support;

namespace Lumen.Bench;

/// <summary>
/// Fuzzes the image decoder: N seeded mutations of valid JPEG, PNG, WebP, GIF and BMP files (made from
/// a real brain-MRI image when the dev set is beside the repository). Every case must decode or fail
/// with an <see cref="ImageDecodeException"/> naming the file, within 5 s; prints counts per format,
/// the slowest decodes and the process's peak RSS. Rerun one case with --case N.
/// Usage: fuzz [--cases 10000] [--seed 1] [--case N]
/// </summary>
internal static class FuzzBench
{
    public static int Run(string[] args)
    {
        int cases = int.Parse(Program.Option(args, "--cases", "10000"));
        int seed = int.Parse(Program.Option(args, "--seed", "1"));
        string data = Program.DefaultData();
        RgbImage? source = Directory.Exists(data)
            ? ImageDecoder.Decode(Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).First())
            : null;
        var fuzzer = new ImageFuzzer(seed, source);
        var only = Program.Option(args, "--case", "") is { Length: > 0 } n ? new[] { fuzzer.Make(int.Parse(n)) } : null;
        var failures = new List<string>();
        var stats = new Dictionary<string, (int Decoded, int Rejected)>();
        var times = new List<(double Ms, ImageFuzzer.Case Case)>();
        var clock = Stopwatch.StartNew();
        foreach (var c in only ?? fuzzer.Cases(cases))
        {
            var one = Stopwatch.StartNew();
            var decode = Task.Run<(bool Ok, string? Problem)>(() =>
            {
                try { ImageDecoder.Decode(c.Bytes, c.FileName); return (true, null); }
                catch (ImageDecodeException e) { return (false, e.Message.Contains(c.FileName) && e.Reason.Length > 0 ? null : $"unclear message '{e.Message}'"); }
                catch (Exception e) { return (false, $"{e.GetType().Name}: {e.Message}"); }
            });
            if (!decode.Wait(TimeSpan.FromSeconds(5))) { failures.Add($"case {c.Number} ({c.Format}, {c.Mutations}): still decoding after 5 s"); continue; }
            times.Add((one.Elapsed.TotalMilliseconds, c));
            var (ok, problem) = decode.Result;
            if (problem is not null) failures.Add($"case {c.Number} ({c.Format}, {c.Mutations}): {problem}");
            var s = stats.GetValueOrDefault(c.Format);
            stats[c.Format] = ok ? (s.Decoded + 1, s.Rejected) : (s.Decoded, s.Rejected + 1);
        }
        Console.WriteLine($"fuzz: {times.Count} cases (seed {seed}{(source is null ? ", generated source image" : ", brain-MRI source image")}) in {clock.Elapsed.TotalSeconds:F1} s");
        foreach (var (format, (decoded, rejected)) in stats.OrderBy(s => s.Key))
            Console.WriteLine($"  {format,-4} decoded {decoded,5}, rejected with a message {rejected,5}");
        times.Sort((a, b) => b.Ms.CompareTo(a.Ms));
        Console.WriteLine($"  slowest decodes: {string.Join(", ", times.Take(3).Select(t => $"{t.Ms:F0} ms (case {t.Case.Number}, {t.Case.Format}, {t.Case.Mutations})"))}");
        Console.WriteLine($"  peak RSS {Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB");
        Console.WriteLine(failures.Count == 0 ? "  no crash, no hang, every failure a clear per-file message" : $"  {failures.Count} FAILURES:\n    " + string.Join("\n    ", failures.Take(50)));
        return failures.Count == 0 ? 0 : 1;
    }
}
