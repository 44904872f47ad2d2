using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Lumen.Server;
using Lumen.Tests.Support;

namespace Lumen.Bench;

/// <summary>
/// Soak test of the web service: real Kestrel on loopback, N clients for M minutes sending a mix of
/// good images, fuzzed (corrupt) images, non-images and bodies over the size limit. Every bad request
/// must get a 4xx, nothing may get a 5xx other than 503 under saturation, and the process's RSS and
/// thread count must stay flat: both are sampled every 10 s (after a full GC) and their least-squares
/// slope is printed.
/// Usage: serve-soak [model.lumen] [--clients 50] [--minutes 10] [--size 128] [--mix good,corrupt,notimage,oversized]
/// [--malloc-trim] (also trim glibc's heap before each sample, to tell memory kept from memory leaked)
/// </summary>
internal static class ServeSoakBench
{
    private enum Kind { Good, Corrupt, NotImage, Oversized }

    public static int Run(string[] args)
    {
        int clients = int.Parse(Program.Option(args, "--clients", "50"));
        double minutes = double.Parse(Program.Option(args, "--minutes", "10"), System.Globalization.CultureInfo.InvariantCulture);
        int size = int.Parse(Program.Option(args, "--size", "128"));
        bool trim = args.Contains("--malloc-trim");
        var mix = Program.Option(args, "--mix", "good,corrupt,notimage,oversized").Split(',').Select(k => Enum.Parse<Kind>(k, ignoreCase: true)).ToHashSet();
        string work = Path.Combine(Path.GetTempPath(), "lumen-soak-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        string model = Program.Positional(args) ?? BenchModels.RandomModel(work, "resnet18", size);
        string data = Program.DefaultData();
        var good = Directory.Exists(data)
            ? Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).Take(40).Select(File.ReadAllBytes).ToArray()
            : new[] { Lumen.Imaging.RgbImage.Filled(224, 224, 90, 90, 90).EncodePng() };
        var fuzzer = new ImageFuzzer(seed: 11, source: Lumen.Imaging.ImageDecoder.Decode(good[0], "seed"));
        var corrupt = fuzzer.Cases(400).Select(c => c.Bytes).ToArray();
        byte[] notImage = System.Text.Encoding.UTF8.GetBytes("%PDF-1.7 this is not an image\n" + new string('x', 5000));
        const long limit = 2 * 1024 * 1024;
        byte[] oversized = new byte[limit + 4096];
        new Random(1).NextBytes(oversized);

        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        string url = $"http://127.0.0.1:{port}/";
        var app = BenchServer.Start(o => { o.ModelPath = model; o.Device = "cpu"; o.MaxRequestBytes = limit; }, url);
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(120) };

        var counts = new Dictionary<(Kind, int), int>();
        var transportErrors = new Dictionary<string, int>();
        async Task Once(Random random)
        {
            Kind kind;
            do
            {
                int pick = random.Next(100);
                kind = pick < 55 ? Kind.Good : pick < 80 ? Kind.Corrupt : pick < 92 ? Kind.NotImage : Kind.Oversized;
            } while (!mix.Contains(kind));
            byte[] body = kind switch
            {
                Kind.Good => good[random.Next(good.Length)],
                Kind.Corrupt => corrupt[random.Next(corrupt.Length)],
                Kind.NotImage => notImage,
                _ => oversized,
            };
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue(kind == Kind.NotImage ? "application/pdf" : "image/jpeg");
            try
            {
                using var response = await http.PostAsync("api/predict", content);
                await response.Content.ReadAsStringAsync();
                lock (counts) counts[(kind, (int)response.StatusCode)] = counts.GetValueOrDefault((kind, (int)response.StatusCode)) + 1;
            }
            catch (HttpRequestException) when (kind == Kind.Oversized)
            {
                // Kestrel may close the connection on a body over the limit before the client finished sending it.
                lock (counts) counts[(kind, 413)] = counts.GetValueOrDefault((kind, 413)) + 1;
            }
            catch (Exception e)
            {
                string what = $"{kind} {e.GetType().Name}: {(e.InnerException ?? e).Message}";
                lock (transportErrors) transportErrors[what] = transportErrors.GetValueOrDefault(what) + 1;
            }
        }

        var warm = new Random(0);
        for (int i = 0; i < 20; i++) Once(warm).GetAwaiter().GetResult();
        var samples = new List<(double Seconds, double RssMb, int Threads, double ManagedMb)>();
        var clock = Stopwatch.StartNew();
        var stopAt = DateTime.UtcNow.AddMinutes(minutes);
        var sampler = Task.Run(async () =>
        {
            while (DateTime.UtcNow < stopAt)
            {
                // Measured after a full, compacting collection (finalizers run too), so the figures show
                // what the process keeps, not how lazily the GC returns memory.
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                if (trim) MallocTrim(0);
                samples.Add((clock.Elapsed.TotalSeconds, ServeLoadBench.Rss() / 1e6, Process.GetCurrentProcess().Threads.Count, GC.GetGCMemoryInfo().HeapSizeBytes / 1e6));
                await Task.Delay(TimeSpan.FromSeconds(10));
            }
        });
        var workers = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var random = new Random(100 + c);
            while (DateTime.UtcNow < stopAt) await Once(random);
        })).ToArray();
        Task.WaitAll(workers);
        sampler.Wait();
        double elapsed = clock.Elapsed.TotalSeconds;
        app.StopAsync().GetAwaiter().GetResult();
        Directory.Delete(work, true);

        int total = counts.Values.Sum();
        int serverErrors = counts.Where(c => c.Key.Item2 >= 500 && c.Key.Item2 != 503).Sum(c => c.Value);
        int badAnsweredOk = counts.Where(c => c.Key.Item1 is Kind.NotImage or Kind.Oversized && c.Key.Item2 < 400).Sum(c => c.Value);
        int goodRejected = counts.Where(c => c.Key.Item1 == Kind.Good && c.Key.Item2 is >= 400 and not 503).Sum(c => c.Value);
        int transport = transportErrors.Values.Sum();
        Console.WriteLine($"serve soak: {clients} clients, {elapsed / 60:F1} min, model {Path.GetFileName(model)}, mix {string.Join(",", mix)}; {total} requests ({total / elapsed:F1}/s), transport errors {transport}");
        foreach (var (what, count) in transportErrors.OrderByDescending(t => t.Value).Take(5)) Console.WriteLine($"    {count} × {what}");
        foreach (var group in counts.GroupBy(c => c.Key.Item1).OrderBy(g => g.Key))
            Console.WriteLine($"  {group.Key,-9} " + string.Join(", ", group.OrderBy(c => c.Key.Item2).Select(c => $"{c.Key.Item2}: {c.Value}")));
        Console.WriteLine($"  5xx other than 503: {serverErrors}; non-images or oversized answered without 4xx: {badAnsweredOk}; good images refused: {goodRejected}");
        if (samples.Count >= 3)
        {
            // The first sample includes warm-up allocations; the trend is judged from the second on.
            var trend = samples.Skip(1).ToList();
            Console.WriteLine($"  RSS {trend[0].RssMb:F0} → {trend[^1].RssMb:F0} MB (min {trend.Min(s => s.RssMb):F0}, max {trend.Max(s => s.RssMb):F0}), slope {Slope(trend.Select(s => (s.Seconds, s.RssMb))) * 60:F2} MB/min");
            Console.WriteLine($"  threads {trend[0].Threads} → {trend[^1].Threads} (max {trend.Max(s => s.Threads)}), slope {Slope(trend.Select(s => (s.Seconds, (double)s.Threads))) * 60:F2} /min");
            Console.WriteLine($"  managed heap {trend[0].ManagedMb:F0} → {trend[^1].ManagedMb:F0} MB, slope {Slope(trend.Select(s => (s.Seconds, s.ManagedMb))) * 60:F2} MB/min");
        }
        return serverErrors == 0 && badAnsweredOk == 0 && goodRejected == 0 && transport == 0 ? 0 : 1;
    }

    // glibc's malloc_trim: gives freed heap memory back to the system, to tell retention from a leak.
    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private static double Slope(IEnumerable<(double X, double Y)> points)
    {
        var p = points.ToList();
        double mx = p.Average(q => q.X), my = p.Average(q => q.Y);
        double sxx = p.Sum(q => (q.X - mx) * (q.X - mx));
        return sxx == 0 ? 0 : p.Sum(q => (q.X - mx) * (q.Y - my)) / sxx;
    }
}
