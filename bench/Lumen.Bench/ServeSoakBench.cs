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
/// With --api-keys every client has its own key; --abusive N adds, for the second half of the run,
/// one more key sending from N loops without pause, against a limit of --rate-limit requests per
/// second per key (default 20): it must get 429s while the others keep their latency (p50/p99 of
/// the others' answers before and after it joined are printed, and its own); the others then pause
/// 100 ms between requests, staying under the limit.
/// Usage: serve-soak [model.lumen] [--clients 50] [--minutes 10] [--size 128] [--mix good,corrupt,notimage,oversized]
/// [--malloc-trim] (also trim glibc's heap before each sample, to tell memory kept from memory leaked)
/// [--api-keys] [--abusive 8] [--rate-limit 20]
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
        int abusiveLoops = int.Parse(Program.Option(args, "--abusive", "0"));
        bool keys = args.Contains("--api-keys") || abusiveLoops > 0;
        int rateLimit = int.Parse(Program.Option(args, "--rate-limit", abusiveLoops > 0 ? "20" : "0"));
        string[] clientKeys = Enumerable.Range(0, clients + 1).Select(i => $"soak-key-{i:D3}-{Guid.NewGuid():N}").ToArray();
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
        var app = BenchServer.Start(o =>
        {
            o.ModelPath = model;
            o.Device = "cpu";
            o.MaxRequestBytes = limit;
            if (keys) o.ApiKeys = clientKeys;
            o.RateLimit = rateLimit;
            o.RateLimitWindow = TimeSpan.FromSeconds(1);
        }, url);
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(120) };
        // The abusive client is another machine: its own connections, not a share of the others' pool.
        using var abusiveHttp = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(120) };

        var counts = new Dictionary<(Kind, int), int>();
        var transportErrors = new Dictionary<string, int>();
        var abusive = new Dictionary<int, int>();
        // Milliseconds of every answered request: (seconds into the run, abusive client?, latency).
        var latencies = new List<(double At, bool Abusive, double Ms)>();
        var runClock = Stopwatch.StartNew();
        async Task Once(Random random, int client)
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
            using var request = new HttpRequestMessage(HttpMethod.Post, "api/predict") { Content = content };
            if (keys) request.Headers.Add("X-Api-Key", clientKeys[client]);
            bool isAbusive = client == clients;
            try
            {
                long start = Stopwatch.GetTimestamp();
                using var response = await (isAbusive ? abusiveHttp : http).SendAsync(request);
                await response.Content.ReadAsStringAsync();
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (isAbusive)
                {
                    lock (abusive) abusive[(int)response.StatusCode] = abusive.GetValueOrDefault((int)response.StatusCode) + 1;
                    if (response.StatusCode == HttpStatusCode.OK) lock (latencies) latencies.Add((runClock.Elapsed.TotalSeconds, true, ms));
                    return;
                }
                if (response.StatusCode == HttpStatusCode.OK && kind == Kind.Good) lock (latencies) latencies.Add((runClock.Elapsed.TotalSeconds, false, ms));
                lock (counts) counts[(kind, (int)response.StatusCode)] = counts.GetValueOrDefault((kind, (int)response.StatusCode)) + 1;
            }
            catch (HttpRequestException) when (kind == Kind.Oversized)
            {
                // Kestrel may close the connection on a body over the limit before the client finished sending it.
                lock (counts) counts[(kind, 413)] = counts.GetValueOrDefault((kind, 413)) + 1;
            }
            catch (Exception e)
            {
                string what = $"{(isAbusive ? "abusive client's " : "")}{kind} {e.GetType().Name}: {(e.InnerException ?? e).Message}";
                lock (transportErrors) transportErrors[what] = transportErrors.GetValueOrDefault(what) + 1;
            }
        }

        var warm = new Random(0);
        for (int i = 0; i < 20; i++) Once(warm, 0).GetAwaiter().GetResult();
        lock (latencies) latencies.Clear();
        runClock.Restart();
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
            while (DateTime.UtcNow < stopAt)
            {
                await Once(random, c);
                // With an abusive client about, the others pause 100 ms between requests, so that
                // their fast refusals (415, 413) cannot take them over the per-key limit themselves.
                if (abusiveLoops > 0) await Task.Delay(100);
            }
        })).Concat(Enumerable.Range(0, abusiveLoops).Select(loop => Task.Run(async () =>
        {
            // The abusive client joins at half time, so the others' latency is seen with and without it.
            var random = new Random(10_000 + loop);
            await Task.Delay(TimeSpan.FromMinutes(minutes / 2));
            while (DateTime.UtcNow < stopAt) await Once(random, clients);
        }))).ToArray();
        Task.WaitAll(workers);
        sampler.Wait();
        double elapsed = clock.Elapsed.TotalSeconds;
        app.StopAsync().GetAwaiter().GetResult();
        Directory.Delete(work, true);

        int total = counts.Values.Sum();
        int serverErrors = counts.Where(c => c.Key.Item2 >= 500 && c.Key.Item2 != 503).Sum(c => c.Value);
        int badAnsweredOk = counts.Where(c => c.Key.Item1 is Kind.NotImage or Kind.Oversized && c.Key.Item2 < 400).Sum(c => c.Value);
        int goodRejected = counts.Where(c => c.Key.Item1 == Kind.Good && c.Key.Item2 is >= 400 and not 503).Sum(c => c.Value);
        // The abusive client's own transport errors (a refused upload's connection closed under it) are its business.
        int transport = transportErrors.Where(t => !t.Key.StartsWith("abusive", StringComparison.Ordinal)).Sum(t => t.Value);
        Console.WriteLine($"serve soak: {clients} clients, {elapsed / 60:F1} min, model {Path.GetFileName(model)}, mix {string.Join(",", mix)}; {total} requests ({total / elapsed:F1}/s), transport errors {transport}");
        foreach (var (what, count) in transportErrors.OrderByDescending(t => t.Value).Take(5)) Console.WriteLine($"    {count} × {what}");
        foreach (var group in counts.GroupBy(c => c.Key.Item1).OrderBy(g => g.Key))
            Console.WriteLine($"  {group.Key,-9} " + string.Join(", ", group.OrderBy(c => c.Key.Item2).Select(c => $"{c.Key.Item2}: {c.Value}")));
        Console.WriteLine($"  5xx other than 503: {serverErrors}; non-images or oversized answered without 4xx: {badAnsweredOk}; good images refused: {goodRejected}");
        double half = elapsed / 2;
        string Percentiles(IEnumerable<double> values)
        {
            var sorted = values.OrderBy(v => v).ToArray();
            return sorted.Length == 0 ? "none" : $"p50 {sorted[sorted.Length / 2]:F0} ms, p99 {sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))]:F0} ms ({sorted.Length} answers)";
        }
        if (keys) Console.WriteLine($"  API keys on ({clients + (abusiveLoops > 0 ? 1 : 0)} keys){(rateLimit > 0 ? $", rate limit {rateLimit} requests/s per key" : "")}");
        if (abusiveLoops > 0)
        {
            Console.WriteLine($"  others' good images, first half (alone):          {Percentiles(latencies.Where(l => !l.Abusive && l.At < half).Select(l => l.Ms))}");
            Console.WriteLine($"  others' good images, second half (abusive client): {Percentiles(latencies.Where(l => !l.Abusive && l.At >= half).Select(l => l.Ms))}");
            Console.WriteLine($"  abusive client ({abusiveLoops} loops, second half): {string.Join(", ", abusive.OrderBy(a => a.Key).Select(a => $"{a.Key}: {a.Value}"))}; its 200s {Percentiles(latencies.Where(l => l.Abusive).Select(l => l.Ms))}");
        }
        else Console.WriteLine($"  good images answered: {Percentiles(latencies.Select(l => l.Ms))}");
        if (samples.Count >= 3)
        {
            // The first minutes include warm-up (arenas, pools and caches reaching their working size):
            // the trend is judged from two minutes on, or from the second sample in shorter runs.
            var trend = samples.Where(s => s.Seconds >= 120).ToList();
            if (trend.Count < 3) trend = samples.Skip(1).ToList();
            Console.WriteLine($"  RSS samples (MB, every 10 s): {string.Join(" ", samples.Select(s => s.RssMb.ToString("F0")))}");
            Console.WriteLine($"  trend from {trend[0].Seconds:F0} s:");
            Console.WriteLine($"  RSS {trend[0].RssMb:F0} → {trend[^1].RssMb:F0} MB (min {trend.Min(s => s.RssMb):F0}, max {trend.Max(s => s.RssMb):F0}), slope {Slope(trend.Select(s => (s.Seconds, s.RssMb))) * 60:F2} MB/min");
            Console.WriteLine($"  threads {trend[0].Threads} → {trend[^1].Threads} (max {trend.Max(s => s.Threads)}), slope {Slope(trend.Select(s => (s.Seconds, (double)s.Threads))) * 60:F2} /min");
            Console.WriteLine($"  managed heap {trend[0].ManagedMb:F0} → {trend[^1].ManagedMb:F0} MB, slope {Slope(trend.Select(s => (s.Seconds, s.ManagedMb))) * 60:F2} MB/min");
        }
        bool abuseLimited = abusiveLoops == 0 || abusive.GetValueOrDefault(429) > 0;
        return serverErrors == 0 && badAnsweredOk == 0 && goodRejected == 0 && transport == 0 && abuseLimited ? 0 : 1;
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
