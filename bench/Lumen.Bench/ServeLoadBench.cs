using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Lumen.Server;

namespace Lumen.Bench;

/// <summary>
/// Load test of the web service: starts `lumen serve` in this process on a loopback port (real
/// Kestrel), then N concurrent clients POST an image for a fixed time. Reports requests/s, p50/p99
/// latency, errors and 503s, the mean batch size, and the process RSS before and after.
/// Usage: serve-load [model.lumen] [--clients 50] [--seconds 60] [--size 128] [--image file] [--engine auto] [--precision auto]
/// (a model without its int8 calibration is calibrated on the bundled sample first, as `lumen train` does at export).
/// </summary>
internal static class ServeLoadBench
{
    public static int Run(string[] args)
    {
        int clients = int.Parse(Program.Option(args, "--clients", "50"));
        double seconds = double.Parse(Program.Option(args, "--seconds", "60"), System.Globalization.CultureInfo.InvariantCulture);
        int size = int.Parse(Program.Option(args, "--size", "128"));
        string work = Path.Combine(Path.GetTempPath(), "lumen-load-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        string model = BenchModels.Calibrated(Program.Positional(args) ?? BenchModels.RandomModel(work, "resnet18", size), work);
        var engine = Enum.Parse<Lumen.Inference.InferenceEngine>(Program.Option(args, "--engine", "auto"), ignoreCase: true);
        var precision = Enum.Parse<Lumen.Inference.InferencePrecision>(Program.Option(args, "--precision", "auto"), ignoreCase: true);
        string? imagePath = Program.Option(args, "--image", "") is { Length: > 0 } given ? given
            : Directory.Exists(Program.DefaultData()) ? Directory.GetFiles(Path.Combine(Program.DefaultData(), "glioma")).OrderBy(f => f).First() : null;
        byte[] image = imagePath is null ? Lumen.Imaging.RgbImage.Filled(224, 224, 90, 90, 90).EncodePng() : File.ReadAllBytes(imagePath);

        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        string url = $"http://127.0.0.1:{port}/";
        var app = BenchServer.Start(o => { o.ModelPath = model; o.Device = "cpu"; o.Engine = engine; o.Precision = precision; }, url);
        var queue = app.Services.GetService(typeof(PredictionQueue)) as PredictionQueue;
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.ConnectionClose = false;

        async Task<(bool Ok, int Status, double Ms)> Once()
        {
            using var form = new MultipartFormDataContent();
            var file = new ByteArrayContent(image);
            file.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
            form.Add(file, "file", "probe.jpg");
            var clock = Stopwatch.StartNew();
            try
            {
                using var response = await http.PostAsync("api/predict", form);
                await response.Content.ReadAsStringAsync();
                return (response.IsSuccessStatusCode, (int)response.StatusCode, clock.Elapsed.TotalMilliseconds);
            }
            catch (Exception)
            {
                return (false, 0, clock.Elapsed.TotalMilliseconds);
            }
        }

        for (int i = 0; i < 10; i++) Once().GetAwaiter().GetResult(); // warm-up
        GC.Collect();
        long rssBefore = Rss();
        long batchesBefore = queue?.Batches ?? 0;
        var latencies = new List<double>();
        int errors = 0, busy = 0, ok = 0;
        var stopAt = DateTime.UtcNow.AddSeconds(seconds);
        var total = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (DateTime.UtcNow < stopAt)
            {
                var (success, status, ms) = await Once();
                lock (latencies)
                {
                    if (success) { ok++; latencies.Add(ms); }
                    else if (status == 503) busy++;
                    else errors++;
                }
            }
        })).ToArray();
        Task.WaitAll(workers);
        double elapsed = total.Elapsed.TotalSeconds;
        GC.Collect();
        long rssAfter = Rss();
        long batches = (queue?.Batches ?? 0) - batchesBefore;
        app.StopAsync().GetAwaiter().GetResult();
        latencies.Sort();
        var predictor = (Lumen.Inference.Predictor)app.Services.GetService(typeof(Lumen.Inference.Predictor))!;
        Console.WriteLine($"serve load: {clients} clients, {elapsed:F0}s, model {Path.GetFileName(model)} ({predictor.Engine.ToString().ToLowerInvariant()} {predictor.Precision.ToString().ToLowerInvariant()}), image {(imagePath is null ? "synthetic" : Path.GetFileName(imagePath))}");
        Console.WriteLine($"  requests ok {ok}, errors {errors}, 503 busy {busy}; {ok / elapsed:F1} req/s");
        if (latencies.Count > 0)
            Console.WriteLine($"  latency p50 {PredictorBench.P(latencies, 50):F0} ms, p99 {PredictorBench.P(latencies, 99):F0} ms; mean batch size {(batches == 0 ? 0 : (double)ok / batches):F1}");
        Console.WriteLine($"  RSS before {rssBefore / 1e6:F0} MB, after {rssAfter / 1e6:F0} MB");
        Directory.Delete(work, true);
        return errors == 0 ? 0 : 1;
    }

    /// <summary>This process's resident set size in bytes.</summary>
    internal static long Rss()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return Process.GetCurrentProcess().WorkingSet64;
    }
}
