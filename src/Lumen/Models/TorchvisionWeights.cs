using System.Collections;
using System.Diagnostics;
using System.Security.Cryptography;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace Lumen.Models;

/// <summary>
/// torchvision's ImageNet weights (<c>.pth</c> state dicts): loaded from a file through
/// TorchSharp.PyBridge, or from Lumen's cache, or downloaded once from torchvision's URL with
/// torchvision's check (the file name carries the first hex digits of its SHA-256) and an atomic write.
/// </summary>
public static class TorchvisionWeights
{
    /// <summary>Where torchvision publishes its weights. <c>LUMEN_TORCHVISION_URL</c> overrides it (a mirror).</summary>
    public static string BaseUrl => Environment.GetEnvironmentVariable("LUMEN_TORCHVISION_URL") is { Length: > 0 } url
        ? url.TrimEnd('/') + "/"
        : "https://download.pytorch.org/models/";

    /// <summary>The cached file of <paramref name="architecture"/>'s weights, downloading it if needed.</summary>
    /// <exception cref="LumenException">The download failed (offline, wrong checksum); the message says
    /// which file to fetch and where to put it.</exception>
    public static string Resolve(Architecture architecture, IProgressReporter? progress = null)
    {
        string destination = Path.Combine(LumenHome.Weights, architecture.TorchvisionFile);
        if (File.Exists(destination)) return destination;
        Download(new Uri(architecture.TorchvisionUrl), HashPrefix(architecture.TorchvisionFile), destination, progress ?? NullProgress.Instance);
        return destination;
    }

    /// <summary>torchvision's convention: the part after the last '-' of the file name is a SHA-256 prefix.</summary>
    internal static string HashPrefix(string fileName)
    {
        string stem = Path.GetFileNameWithoutExtension(fileName);
        int dash = stem.LastIndexOf('-');
        return dash >= 0 ? stem[(dash + 1)..] : "";
    }

    /// <summary>
    /// Downloads <paramref name="url"/> to <paramref name="destination"/>: into a temporary file, with a
    /// progress task in bytes, verified against <paramref name="sha256Prefix"/>, then moved into place.
    /// Nothing is left at the destination unless the file is complete and verified.
    /// </summary>
    public static void Download(Uri url, string sha256Prefix, string destination, IProgressReporter progress, HttpClient? client = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        string temp = destination + ".part";
        string manual = $"Without internet access, download {url} elsewhere and put it at {destination}, or give that file as the weights (a .pth path).";
        using var ownClient = client is null ? new HttpClient { Timeout = TimeSpan.FromMinutes(30) } : null;
        HttpClient http = client ?? ownClient!;
        try
        {
            using var response = http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
            if (!response.IsSuccessStatusCode)
                throw new LumenException($"could not download {url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}. {manual}");
            long total = response.Content.Headers.ContentLength ?? 0;
            using var source = response.Content.ReadAsStream();
            using var sha = SHA256.Create();
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
            using (var task = progress.Start($"Downloading {Path.GetFileName(destination)}", Math.Max(total, 1)))
            {
                var buffer = new byte[1 << 16];
                int read;
                while ((read = source.Read(buffer)) > 0)
                {
                    file.Write(buffer, 0, read);
                    sha.TransformBlock(buffer, 0, read, null, 0);
                    task.Advance(read);
                }
            }
            sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
            string digest = Convert.ToHexString(sha.Hash!).ToLowerInvariant();
            if (!digest.StartsWith(sha256Prefix.ToLowerInvariant(), StringComparison.Ordinal))
            {
                File.Delete(temp);
                throw new LumenException($"the file downloaded from {url} is corrupt: its SHA-256 starts with {digest[..Math.Min(12, digest.Length)]}, expected {sha256Prefix}. It was discarded; try again. {manual}");
            }
            File.Move(temp, destination, overwrite: true);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            File.Delete(temp);
            throw new LumenException($"could not download {url} ({e.Message}). {manual}", e);
        }
    }

    /// <summary>
    /// Copies a torchvision state dict into <paramref name="body"/> by parameter name. The classifier
    /// (<c>fc.*</c>, <c>classifier.*</c>) is ignored since Lumen puts its own head on the body.
    /// </summary>
    /// <exception cref="LumenException">The file is not a state dict, or does not fit the body (the
    /// message names the first mismatching parameters).</exception>
    public static void LoadInto(Module body, string path, string architectureName)
    {
        if (!File.Exists(path)) throw new OptionException("Weights", $"file '{path}' does not exist");
        Hashtable table;
        try
        {
            table = PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not LumenException)
        {
            throw new OptionException("Weights", $"'{path}' is not a PyTorch state dict (.pth written by torch.save): {e.Message}", e);
        }
        // Training checkpoints often wrap the weights: {"state_dict": {...}} or {"model": {...}}.
        foreach (string wrapper in new[] { "state_dict", "model" })
            if (table[wrapper] is Hashtable inner) table = inner;

        var source = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in table)
            if (entry.Key is string key && entry.Value is Tensor t) source[key.StartsWith("module.") ? key[7..] : key] = t;
        try
        {
            CopyStateDict(body, source, $"'{path}'", architectureName);
        }
        finally
        {
            foreach (var t in source.Values) t.Dispose();
        }
    }

    internal static void CopyStateDict(Module body, IReadOnlyDictionary<string, Tensor> source, string sourceName, string architectureName)
    {
        Dictionary<string, Tensor> target = body.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k) && !k.EndsWith("num_batches_tracked")).ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k) && !k.StartsWith("fc.") && !k.StartsWith("classifier.")).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            string detail = string.Join("; ", new[]
            {
                missing.Count > 0 ? $"missing {missing.Count} (e.g. {string.Join(", ", missing.Take(3))})" : null,
                unexpected.Count > 0 ? $"unexpected {unexpected.Count} (e.g. {string.Join(", ", unexpected.Take(3))})" : null,
            }.Where(s => s is not null));
            throw new OptionException("Weights", $"{sourceName} does not fit {architectureName}: {detail}. Is it a torchvision {architectureName} state dict?");
        }
        using var noGrad = no_grad();
        foreach (var (key, t) in target)
        {
            if (!source.TryGetValue(key, out Tensor? s)) continue;
            if (!t.shape.SequenceEqual(s.shape))
                throw new OptionException("Weights", $"{sourceName} does not fit {architectureName}: '{key}' has shape [{string.Join(",", s.shape)}], expected [{string.Join(",", t.shape)}]");
            t.copy_(s.to(t.dtype));
        }
    }
}
